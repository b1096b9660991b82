//! A TCP relay between roles and their database that a test can cut and restore, to take the
//! database away from running processes without stopping the shared server other tests use;
//! or hold, so that what goes through it is under way but cannot arrive until released.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct Relay {
    addr: SocketAddr,
    upstream: String,
    accepting: Mutex<Option<JoinHandle<()>>>,
    connections: Arc<Mutex<JoinSet<()>>>,
    /// True while new connections are held (accepted, not yet connected onwards).
    holding: Arc<tokio::sync::watch::Sender<bool>>,
    held: Arc<AtomicUsize>,
}

impl Relay {
    /// Listens on a free loopback port and relays every connection to `upstream`.
    pub async fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay {
            addr: listener.local_addr().unwrap(),
            upstream,
            accepting: Mutex::new(None),
            connections: Arc::default(),
            holding: Arc::new(tokio::sync::watch::Sender::new(false)),
            held: Arc::default(),
        };
        relay.accept_on(listener);
        relay
    }

    /// `host:port` to give the roles instead of the server's.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    fn accept_on(&self, listener: TcpListener) {
        let (upstream, connections) = (self.upstream.clone(), self.connections.clone());
        let (holding, held) = (self.holding.clone(), self.held.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let (mut gate, held) = (holding.subscribe(), held.clone());
                connections.lock().unwrap().spawn(async move {
                    if *gate.borrow_and_update() {
                        held.fetch_add(1, Ordering::SeqCst);
                        let _ = gate.wait_for(|holding| !*holding).await;
                        held.fetch_sub(1, Ordering::SeqCst);
                    }
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        *self.accepting.lock().unwrap() = Some(task);
    }

    /// The database disappears: new connections are refused and open ones are dropped.
    pub async fn cut(&self) {
        let accepting = self.accepting.lock().unwrap().take();
        if let Some(task) = accepting {
            task.abort();
            // Once the aborted loop has finished, its listener is closed.
            let _ = task.await;
        }
        let mut open = std::mem::take(&mut *self.connections.lock().unwrap());
        open.abort_all();
        while open.join_next().await.is_some() {}
    }

    /// The database is back on the same address.
    pub async fn restore(&self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        self.accept_on(listener);
    }
}

impl Relay {
    /// From now on, new connections are accepted but go no further until [`Relay::release`].
    pub fn hold(&self) {
        self.holding.send_replace(true);
    }

    /// Held connections, and new ones, go through.
    pub fn release(&self) {
        self.holding.send_replace(false);
    }

    /// How many connections are waiting at the relay.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }
}
