//! Data plane tests: a real `DataPlane` on 127.77.x.1 VIPs in front of real
//! member servers on 127.0.0.1, driven by real client sockets.

mod dataplane_support;

use dataplane_support::*;

use ballast::model::{LbAlgorithm, Protocol};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_interleaves_weights_three_one_one_over_http() {
    let ip = vip(1);
    let port = free_port(ip);
    let m = http_members("rr", 3).await;
    let dp = data_plane();
    let pool = pool(
        Protocol::Http,
        LbAlgorithm::RoundRobin,
        None,
        vec![m[0].spec(3), m[1].spec(1), m[2].spec(1)],
    );
    dp.apply(lb(ip, vec![listener(Protocol::Http, port, Some(pool))]))
        .await
        .unwrap();
    let c = http_client(None);
    let url = format!("http://{ip}:{port}/");
    let mut seq = Vec::new();
    for _ in 0..50 {
        let (status, member, body) = get(&c, &url).await;
        assert_eq!(status, 200);
        assert_eq!(member, body);
        seq.push(member);
    }
    assert_eq!(&seq[..5], &["rr0", "rr1", "rr0", "rr2", "rr0"]);
    let count = |n: &str| seq.iter().filter(|s| *s == n).count();
    assert_eq!((count("rr0"), count("rr1"), count("rr2")), (30, 10, 10));
}
