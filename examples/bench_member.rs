//! A tiny HTTP/1.1 member for `bench/dataplane.sh`: `GET /` answers 100 bytes,
//! `GET /big` answers 1 MiB. Usage: `bench_member <port> [threads]`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().unwrap_or_else(|| "18000".into()).parse()?;
    let threads: usize = args.next().unwrap_or_else(|| "1".into()).parse()?;
    let small = Bytes::from(vec![b'x'; 100]);
    let big = Bytes::from(vec![b'y'; 1 << 20]);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = TcpListener::bind(("127.0.0.1", port)).await?;
            loop {
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                let (small, big) = (small.clone(), big.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let body = if req.uri().path() == "/big" {
                            big.clone()
                        } else {
                            small.clone()
                        };
                        async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        })
}
