//! API benchmark client, driven by `bench/api.sh` against a running
//! `ballast serve`:
//! - N sequential load balancer creations: POST → ACTIVE latency (the GET is
//!   polled without pause), p50/p99;
//! - N creations by C concurrent clients, the same latency;
//! - GET throughput on one load balancer with K keep-alive connections.
//!
//! Usage: `api_bench --url http://127.0.0.1:PORT [--count 1000]
//! [--clients 16] [--connections 50] [--seconds 10] [--poll-ms 0]`, or
//! `api_bench --url URL --probe-ready` to test `/readyz` once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

struct Args {
    url: String,
    count: usize,
    clients: usize,
    connections: usize,
    seconds: u64,
    /// Pause between status polls (0 = poll without pause).
    poll_ms: u64,
    /// Only check `/readyz` and exit 0 when it answers 200.
    probe_ready: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        url: String::new(),
        count: 1000,
        clients: 16,
        connections: 50,
        seconds: 10,
        poll_ms: 0,
        probe_ready: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--probe-ready" {
            args.probe_ready = true;
            continue;
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => args.url = value.trim_end_matches('/').to_string(),
            "--count" => args.count = value.parse()?,
            "--clients" => args.clients = value.parse()?,
            "--connections" => args.connections = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            "--poll-ms" => args.poll_ms = value.parse()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    if args.url.is_empty() {
        bail!("--url http://HOST:PORT is required");
    }
    Ok(args)
}

/// One creation's timings.
struct Sample {
    /// POST sent → 202 received.
    post: Duration,
    /// POST sent → first GET that reads ACTIVE.
    active: Duration,
    /// GETs it took.
    polls: u32,
}

/// Create one load balancer and poll it until ACTIVE.
async fn create_one(
    client: &reqwest::Client,
    url: &str,
    network_id: &str,
    poll: Duration,
) -> Result<Sample> {
    let start = Instant::now();
    let resp = client
        .post(format!("{url}/v1/loadbalancers"))
        .json(&json!({"vip": {"network_id": network_id}}))
        .send()
        .await?;
    let status = resp.status();
    let lb: Value = resp.json().await?;
    if status != 202 {
        bail!("POST answered {status}: {lb}");
    }
    let post = start.elapsed();
    let id = lb["id"].as_str().context("no id")?.to_string();
    let lb_url = format!("{url}/v1/loadbalancers/{id}");
    let mut polls = 0;
    loop {
        polls += 1;
        let lb: Value = client.get(&lb_url).send().await?.json().await?;
        match lb["provisioning_status"].as_str() {
            Some("ACTIVE") => break,
            Some("PENDING_CREATE") => {}
            other => bail!("load balancer {id} went {other:?}"),
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("load balancer {id} not ACTIVE after 30 s");
        }
        if !poll.is_zero() {
            tokio::time::sleep(poll).await;
        }
    }
    Ok(Sample {
        post,
        active: start.elapsed(),
        polls,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Row {
    name: String,
    samples: Vec<Sample>,
    wall: Duration,
}

fn print_rows(rows: &[Row]) {
    println!(
        "{:<34} {:>6} {:>9} {:>9} {:>9} {:>11} {:>11} {:>7} {:>9}",
        "POST -> ACTIVE",
        "n",
        "p50 ms",
        "p99 ms",
        "max ms",
        "POST p50",
        "POST p99",
        "polls",
        "LB/s"
    );
    for row in rows {
        let mut active: Vec<_> = row.samples.iter().map(|s| s.active).collect();
        let mut post: Vec<_> = row.samples.iter().map(|s| s.post).collect();
        active.sort();
        post.sort();
        let polls: u32 = row.samples.iter().map(|s| s.polls).sum();
        println!(
            "{:<34} {:>6} {:>9.2} {:>9.2} {:>9.2} {:>11.2} {:>11.2} {:>7.1} {:>9.0}",
            row.name,
            row.samples.len(),
            ms(percentile(&active, 50.0)),
            ms(percentile(&active, 99.0)),
            ms(active.last().copied().unwrap_or_default()),
            ms(percentile(&post, 50.0)),
            ms(percentile(&post, 99.0)),
            polls as f64 / row.samples.len().max(1) as f64,
            row.samples.len() as f64 / row.wall.as_secs_f64(),
        );
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    // reqwest is built without a default TLS provider (STACK.md); plain
    // HTTP needs none, but building a client still asks for one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default(); // Err: already installed
    let args = parse_args()?;
    if args.probe_ready {
        let resp = reqwest::Client::new()
            .get(format!("{}/readyz", args.url))
            .send()
            .await?;
        if resp.status() != 200 {
            bail!("not ready: {}", resp.status());
        }
        return Ok(());
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections.max(args.clients))
        .build()?;
    let nets: Value = client
        .get(format!("{}/v1/networks", args.url))
        .send()
        .await?
        .json()
        .await?;
    let poll = Duration::from_millis(args.poll_ms);
    let network_id = nets[0]["id"].as_str().context("no network")?.to_string();

    // Warm-up: connections, SQLite pages, allocator.
    for _ in 0..20 {
        create_one(&client, &args.url, &network_id, poll).await?;
    }

    let mut rows = Vec::new();
    let start = Instant::now();
    let mut samples = Vec::with_capacity(args.count);
    for _ in 0..args.count {
        samples.push(create_one(&client, &args.url, &network_id, poll).await?);
    }
    rows.push(Row {
        name: "sequential (1 client)".into(),
        samples,
        wall: start.elapsed(),
    });

    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let (client, url, net, next) = (
            client.clone(),
            args.url.clone(),
            network_id.clone(),
            Arc::clone(&next),
        );
        let count = args.count;
        tasks.spawn(async move {
            let mut mine = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                mine.push(create_one(&client, &url, &net, poll).await?);
            }
            anyhow::Ok(mine)
        });
    }
    let mut samples = Vec::with_capacity(args.count);
    while let Some(done) = tasks.join_next().await {
        samples.extend(done??);
    }
    rows.push(Row {
        name: format!("concurrent ({} clients)", args.clients),
        samples,
        wall: start.elapsed(),
    });
    println!();
    if poll.is_zero() {
        println!("(status polled without pause)");
    } else {
        println!("(status polled every {} ms)", args.poll_ms);
    }
    print_rows(&rows);

    // GET throughput on one resource.
    let target = create_one(&client, &args.url, &network_id, poll).await;
    target?;
    let lbs: Value = client
        .get(format!("{}/v1/loadbalancers", args.url))
        .send()
        .await?
        .json()
        .await?;
    let id = lbs[0]["id"]
        .as_str()
        .context("no load balancer")?
        .to_string();
    let path = format!("/v1/loadbalancers/{id}");
    let get_url = format!("{}{path}", args.url);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.connections {
        // One client per connection: reqwest would otherwise share a pool.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let (url, ok, failed, stop) = (
            get_url.clone(),
            Arc::clone(&ok),
            Arc::clone(&failed),
            Arc::clone(&stop),
        );
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let good = match client.get(&url).send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                let counter = if good { &ok } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    while tasks.join_next().await.is_some() {}
    let ok = ok.load(Ordering::Relaxed);
    println!();
    println!(
        "{:<34} {:>6} {:>12} {:>9} {:>9}",
        "GET one resource", "conns", "requests", "errors", "req/s"
    );
    println!(
        "{:<34} {:>6} {:>12} {:>9} {:>9.0}",
        "reqwest client (this process)",
        args.connections,
        ok,
        failed.load(Ordering::Relaxed),
        ok as f64 / elapsed.as_secs_f64()
    );
    println!();
    println!("GET target: {path}");
    Ok(())
}
