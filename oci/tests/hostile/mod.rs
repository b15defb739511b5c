//! A hostile registry: a tiny HTTP/1.1 server on 127.0.0.1 whose every answer a test writes by
//! hand (one thread per connection, `Connection: close`). Bodies of any size are generated while
//! they are sent, never stored.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead as _, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a handler gets: the request, the connection, and the server's stop flag (long answers
/// end when it is raised or when the client goes away).
pub struct Conn<'a> {
    pub req: Request,
    pub stream: &'a mut TcpStream,
    pub stop: &'a AtomicBool,
}

pub type Handler = dyn Fn(&mut Conn<'_>) + Send + Sync;

/// The server; stopped and joined when dropped.
pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(handler: impl Fn(&mut Conn<'_>) + Send + Sync + 'static) -> Server {
        Self::start_on("127.0.0.1:0", handler)
    }

    pub fn start_on(addr: &str, handler: impl Fn(&mut Conn<'_>) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind(addr).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let (handler, stop, requests) = (handler.clone(), stop2.clone(), requests2.clone());
                        conns.push(std::thread::spawn(move || {
                            stream.set_nonblocking(false).ok();
                            stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
                            let Some(req) = read_request(&stream) else { return };
                            requests.fetch_add(1, Ordering::Relaxed);
                            handler(&mut Conn {
                                req,
                                stream: &mut stream,
                                stop: &stop,
                            });
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Server {
            port,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    Some(Request { method, path, headers })
}

impl Conn<'_> {
    /// Status line and headers (plus `Connection: close`), no body yet.
    pub fn head(&mut self, status: &str, headers: &[(&str, String)]) -> bool {
        let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        self.stream.write_all(out.as_bytes()).is_ok()
    }

    /// A complete answer with a body and its true length.
    pub fn respond(&mut self, status: &str, headers: &[(&str, String)], body: &[u8]) {
        let mut all = headers.to_vec();
        all.push(("Content-Length", body.len().to_string()));
        if self.head(status, &all) {
            let _ = self.stream.write_all(body);
        }
    }

    /// `len` generated bytes (`None`: without end, chunked) after the head, at full speed, until
    /// done, the client goes away or the server stops. Returns the bytes sent.
    pub fn stream_body(&mut self, status: &str, headers: &[(&str, String)], len: Option<u64>) -> u64 {
        let mut all = headers.to_vec();
        match len {
            Some(n) => all.push(("Content-Length", n.to_string())),
            None => all.push(("Transfer-Encoding", "chunked".into())),
        }
        if !self.head(status, &all) {
            return 0;
        }
        let block = vec![b'x'; 64 << 10];
        let mut sent = 0u64;
        while !self.stop.load(Ordering::Relaxed) && len.is_none_or(|n| sent < n) {
            let n = len.map_or(block.len() as u64, |l| (l - sent).min(block.len() as u64)) as usize;
            let ok = match len {
                Some(_) => self.stream.write_all(&block[..n]).is_ok(),
                None => self
                    .stream
                    .write_all(format!("{n:x}\r\n").as_bytes())
                    .and_then(|()| self.stream.write_all(&block[..n]))
                    .and_then(|()| self.stream.write_all(b"\r\n"))
                    .is_ok(),
            };
            if !ok {
                break;
            }
            sent += n as u64;
        }
        sent
    }

    /// One byte per `every` of a body that claims `len` bytes, until the client goes away.
    pub fn drip(&mut self, len: u64, every: Duration) {
        if !self.head("200 OK", &[("Content-Length", len.to_string())]) {
            return;
        }
        for _ in 0..len {
            if self.stop.load(Ordering::Relaxed) || self.stream.write_all(b"{").is_err() {
                return;
            }
            std::thread::sleep(every);
        }
    }

    /// Reads nothing more and answers nothing until the client goes away or the server stops.
    pub fn hang(&mut self) {
        self.stream.set_read_timeout(Some(Duration::from_millis(50))).ok();
        let mut buf = [0u8; 64];
        while !self.stop.load(Ordering::Relaxed) {
            match std::io::Read::read(self.stream, &mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        }
    }
}

/// The peak resident set size of this process so far, in KiB.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("number")
}
