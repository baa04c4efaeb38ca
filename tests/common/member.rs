//! A minimal HTTP member for the tests that drive the real binary: plain
//! threads and blocking sockets, no runtime.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

/// An HTTP member on 127.0.0.1 answering every request with `name` and
/// closing the connection. Runs until the test process ends.
pub fn http_member(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind member");
    let addr = listener.local_addr().expect("member address");
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || serve_one(stream, name));
        }
    });
    addr
}

/// Read one request head from `stream`, answer it with `name` and close.
fn serve_one(mut stream: TcpStream, name: &str) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
        name.len()
    );
    let _ = stream.write_all(reply.as_bytes()); // the proxy may have gone away
}
