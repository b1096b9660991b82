//! A request held in flight: its head sent with `Expect: 100-continue`, its body kept back until
//! the kit chooses. When the receiver answers `100 Continue` it has started reading the body,
//! so it has admitted the request (a receiver checks the request ids before it reads a
//! body): a copy sent now meets the original in flight, deterministically, with no timing.
//!
//! Spoken over a raw HTTP/1.1 connection (the pooled client sends bodies whole), plain or TLS
//! with the kit's client certificate.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Heads larger than this are not an answer the kit understands.
const HEAD_LIMIT: usize = 64 * 1024;
/// Bodies larger than this are not an answer to a booking.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An answer's status line and headers (and, for the final answer, its body).
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Held {
    io: Box<dyn Io>,
    buffered: Vec<u8>,
    body: Vec<u8>,
}

/// Where `base` (`http://host:port` or `https://host:port`) is.
fn authority(base: &str) -> Result<(bool, String, u16), String> {
    let (tls, rest) = if let Some(r) = base.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = base.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{base} is not an http(s) URL"));
    };
    let host_port = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || p.parse::<u16>().is_ok() => (
            h.to_string(),
            p.parse::<u16>().map_err(|_| format!("{base}: bad port"))?,
        ),
        _ => (host_port.to_string(), if tls { 443 } else { 80 }),
    };
    Ok((tls, host.trim_matches(['[', ']']).to_string(), port))
}

impl Held {
    /// Connects to `base` and sends the head of `method path` with `headers` (a
    /// `Content-Length` for `body` and `Expect: 100-continue` are added), keeping `body` back.
    pub async fn send_head(
        base: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<Held, String> {
        let (secure, host, port) = authority(base)?;
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {base}: {e}"))?;
        let io: Box<dyn Io> = if secure {
            let Some(config) = tls else {
                return Err(format!(
                    "{base} is https and the kit has no TLS settings for it"
                ));
            };
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|e| format!("{host}: {e}"))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {base}: {e}"))?;
            Box::new(stream)
        } else {
            Box::new(tcp)
        };
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {host}:{port}\r\n");
        for (k, v) in headers {
            if !matches!(k.as_str(), "content-length" | "expect" | "host") {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        head.push_str(&format!(
            "content-length: {}\r\nexpect: 100-continue\r\n\r\n",
            body.len()
        ));
        let mut held = Held {
            io,
            buffered: Vec::new(),
            body,
        };
        held.io
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("sending the head: {e}"))?;
        held.io.flush().await.map_err(|e| e.to_string())?;
        Ok(held)
    }

    /// Reads the next answer head (a `100 Continue` or the final answer).
    pub async fn read_head(&mut self) -> Result<Head, String> {
        loop {
            if let Some(end) = find(&self.buffered, b"\r\n\r\n") {
                let head: Vec<u8> = self.buffered.drain(..end + 4).collect();
                let text = String::from_utf8_lossy(&head);
                let mut lines = text.split("\r\n");
                let status = lines
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|s| s.parse::<u16>().ok())
                    .ok_or_else(|| "the answer has no status line".to_string())?;
                let headers = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                return Ok(Head {
                    status,
                    headers,
                    body: Vec::new(),
                });
            }
            if self.buffered.len() > HEAD_LIMIT {
                return Err("the answer's head is too large".into());
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .io
                .read(&mut chunk)
                .await
                .map_err(|e| format!("reading the answer: {e}"))?;
            if n == 0 {
                return Err("the connection closed before an answer".into());
            }
            self.buffered.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends the body kept back, and reads the final answer.
    pub async fn release(mut self) -> Result<Head, String> {
        let body = std::mem::take(&mut self.body);
        self.io
            .write_all(&body)
            .await
            .map_err(|e| format!("sending the body: {e}"))?;
        self.io.flush().await.map_err(|e| e.to_string())?;
        loop {
            let mut head = self.read_head().await?;
            if head.status == 100 {
                continue;
            }
            head.body = self.read_body(&head).await?;
            return Ok(head);
        }
    }

    /// At least `n` bytes buffered (fewer only when the connection closes).
    async fn fill(&mut self, n: usize) -> Result<(), String> {
        while self.buffered.len() < n {
            let mut chunk = [0u8; 8192];
            let read = self
                .io
                .read(&mut chunk)
                .await
                .map_err(|e| format!("reading the answer: {e}"))?;
            if read == 0 {
                break;
            }
            self.buffered.extend_from_slice(&chunk[..read]);
        }
        Ok(())
    }

    /// The body after `head`: by `Content-Length`, or chunked.
    async fn read_body(&mut self, head: &Head) -> Result<Vec<u8>, String> {
        if let Some(length) = head
            .header("content-length")
            .and_then(|l| l.parse::<usize>().ok())
        {
            if length > crate::held::BODY_LIMIT {
                return Err("the answer's body is too large".into());
            }
            self.fill(length).await?;
            let n = length.min(self.buffered.len());
            return Ok(self.buffered.drain(..n).collect());
        }
        if !head
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            return Ok(Vec::new());
        }
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buffered, b"\r\n") {
                    break i;
                }
                let before = self.buffered.len();
                self.fill(before + 1).await?;
                if self.buffered.len() == before {
                    return Err("the chunked answer ended early".into());
                }
            };
            let line: Vec<u8> = self.buffered.drain(..line_end + 2).collect();
            let size_text = String::from_utf8_lossy(&line[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| "a chunk size is not hexadecimal".to_string())?;
            if size == 0 {
                return Ok(body);
            }
            if body.len() + size > crate::held::BODY_LIMIT {
                return Err("the answer's body is too large".into());
            }
            self.fill(size + 2).await?;
            let n = size.min(self.buffered.len());
            body.extend(self.buffered.drain(..n));
            let crlf = 2.min(self.buffered.len());
            self.buffered.drain(..crlf);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_where_a_base_url_points() {
        assert_eq!(
            authority("http://127.0.0.1:8080"),
            Ok((false, "127.0.0.1".to_string(), 8080))
        );
        assert_eq!(
            authority("https://receiver.example/base"),
            Ok((true, "receiver.example".to_string(), 443))
        );
        assert!(authority("ftp://x").is_err());
    }
}
