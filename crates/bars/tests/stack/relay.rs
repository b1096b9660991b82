//! A TCP relay between roles and their database that a test can cut and restore, to take the
//! database away from running processes without stopping the shared server other tests use.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct Relay {
    addr: SocketAddr,
    upstream: String,
    accepting: Mutex<Option<JoinHandle<()>>>,
    connections: Arc<Mutex<JoinSet<()>>>,
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
        };
        relay.accept_on(listener);
        relay
    }

    /// `host:port` to give the roles instead of the server's.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    fn accept_on(&self, listener: TcpListener) {
        let (upstream, connections) = (self.upstream.clone(), self.connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.lock().unwrap().spawn(async move {
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
