//! Scale benchmark of the health checker (issue #5): N member listeners on
//! 127.0.0.1 in this process, all monitored at delay 1 s through
//! `HealthChecker`, then the CPU the checker costs and the time from a
//! member's death to OFFLINE.
//!
//! Members run on their own runtime (threads named `member`) and the checker
//! on another (`checker`), so per-thread figures from /proc/self/task split
//! the prober's cost from the members'. Run through bench/health_scale.sh,
//! which raises the open-file limit.
//!
//! Usage: health_scale [--members N] [--kind tcp|http] [--seconds S] [--fall F]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ballast::dataplane::MemberStates;
use ballast::health::{HealthChecker, MonitorSettings, PoolMonitorSpec};
use ballast::model::{
    HealthMonitorType, HttpMethod, LoadBalancerId, MemberId, OperatingStatus, PoolId,
};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Linux reports CPU time in USER_HZ ticks, 100 per second on every
/// architecture Ballast targets.
const TICKS_PER_SEC: f64 = 100.0;
/// Members per pool: many pools, as a real deployment would have.
const POOL_SIZE: usize = 50;
/// Members killed to time death-to-OFFLINE.
const VICTIMS: usize = 20;

struct Args {
    members: usize,
    kind: HealthMonitorType,
    seconds: u64,
    fall: u32,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        members: 5000,
        kind: HealthMonitorType::Tcp,
        seconds: 20,
        fall: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--members" => args.members = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            "--fall" => args.fall = value.parse()?,
            "--kind" => {
                args.kind = match value.as_str() {
                    "tcp" => HealthMonitorType::Tcp,
                    "http" => HealthMonitorType::Http,
                    other => bail!("--kind tcp|http, not {other}"),
                }
            }
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

/// CPU ticks (user + system) per thread name, from /proc/self/task.
fn thread_ticks() -> anyhow::Result<HashMap<String, u64>> {
    let mut by_name = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task")? {
        let path = task?.path().join("stat");
        // A thread may exit between listing and reading.
        let Ok(stat) = std::fs::read_to_string(&path) else {
            continue;
        };
        let open = stat.find('(').context("stat has a comm")?;
        let close = stat.rfind(')').context("stat has a comm")?;
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // Fields 14 and 15 of stat(5), counted after the comm.
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        *by_name.entry(name).or_default() += ticks;
    }
    Ok(by_name)
}

fn process_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let close = stat.rfind(')').context("stat has a comm")?;
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

struct Members {
    addresses: Vec<SocketAddr>,
    stops: Vec<CancellationToken>,
    served: Arc<AtomicU64>,
}

/// Bind `count` listeners and serve them on `runtime`.
fn start_members(
    runtime: &tokio::runtime::Runtime,
    count: usize,
    http: bool,
) -> anyhow::Result<Members> {
    let served = Arc::new(AtomicU64::new(0));
    let mut addresses = Vec::with_capacity(count);
    let mut stops = Vec::with_capacity(count);
    for _ in 0..count {
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .context("bind a member (raise the open-file limit: ulimit -n)")?;
        addresses.push(listener.local_addr()?);
        let stop = CancellationToken::new();
        stops.push(stop.clone());
        let served = served.clone();
        runtime.spawn(async move {
            loop {
                let stream = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                };
                served.fetch_add(1, Ordering::Relaxed);
                if http {
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(|_request| async {
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                Bytes::from_static(b"ok\n"),
                            )))
                        });
                        // A probe hanging up early is not this benchmark's concern.
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
    }
    Ok(Members {
        addresses,
        stops,
        served,
    })
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let member_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("member")
        .enable_all()
        .build()?;
    let checker_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("checker")
        .enable_all()
        .build()?;

    let members = start_members(
        &member_runtime,
        args.members,
        args.kind == HealthMonitorType::Http,
    )?;
    println!(
        "{} {} members on 127.0.0.1, delay 1 s, timeout 1 s, fall {}, pools of {POOL_SIZE}",
        args.members, args.kind, args.fall
    );

    checker_runtime.block_on(async {
        let states = Arc::new(MemberStates::new());
        let shutdown = CancellationToken::new();
        let (checker, mut events) = HealthChecker::new(states.clone(), shutdown.clone());
        let settings = MonitorSettings {
            kind: args.kind,
            delay_secs: 1,
            timeout_secs: 1,
            fall_threshold: args.fall,
            rise_threshold: 2,
            http_method: HttpMethod::Get,
            url_path: "/".into(),
            expected_codes: "200".into(),
        };
        let ids: Vec<MemberId> = (0..args.members).map(|_| MemberId::new()).collect();
        let load_balancer_id = LoadBalancerId::new();
        for chunk in ids
            .iter()
            .zip(&members.addresses)
            .collect::<Vec<_>>()
            .chunks(POOL_SIZE)
        {
            checker.apply_pool(PoolMonitorSpec {
                pool_id: PoolId::new(),
                load_balancer_id,
                monitor: Some(settings.clone()),
                members: chunk.iter().map(|(id, a)| (**id, **a)).collect(),
            });
        }

        let started = Instant::now();
        let mut online = HashSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while online.len() < ids.len() {
            let change = tokio::time::timeout_at(deadline, events.recv())
                .await
                .context("every member ONLINE within 30 s")?
                .context("events channel open")?;
            match change.status {
                OperatingStatus::Online => online.insert(change.member_id),
                other => bail!("member went {other}: {}", change.cause),
            };
        }
        println!(
            "all {} members ONLINE {:.0} ms after apply",
            ids.len(),
            started.elapsed().as_secs_f64() * 1e3
        );

        // Let the first-probe burst pass so the window sees steady state.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (threads_before, process_before) = (thread_ticks()?, process_ticks()?);
        let served_before = members.served.load(Ordering::Relaxed);
        let window = Instant::now();
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        let wall = window.elapsed().as_secs_f64();
        let (threads_after, process_after) = (thread_ticks()?, process_ticks()?);
        let probes = members.served.load(Ordering::Relaxed) - served_before;
        let percent = |ticks: u64| ticks as f64 / TICKS_PER_SEC / wall * 100.0;
        let by_prefix = |prefix: &str| -> u64 {
            threads_after
                .iter()
                .filter(|(name, _)| name.starts_with(prefix))
                .map(|(name, after)| after - threads_before.get(name).copied().unwrap_or(0))
                .sum()
        };
        println!(
            "steady state over {wall:.1} s: {:.0} probes/s; CPU (% of one core): \
             checker {:.1}, members {:.1}, whole process {:.1}",
            probes as f64 / wall,
            percent(by_prefix("checker")),
            percent(by_prefix("member")),
            percent(process_after - process_before),
        );
        if events.try_recv().is_ok() {
            bail!("a status changed while nothing did");
        }

        // Kill a few members and time each one's fall.
        let victims: Vec<usize> = (0..VICTIMS.min(ids.len()))
            .map(|i| i * ids.len() / VICTIMS.min(ids.len()))
            .collect();
        let killed = Instant::now();
        for &i in &victims {
            members.stops[i].cancel();
        }
        let mut pending: HashSet<MemberId> = victims.iter().map(|&i| ids[i]).collect();
        let mut latencies = Vec::new();
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(u64::from(args.fall) + 1 + 5);
        while !pending.is_empty() {
            let change = tokio::time::timeout_at(deadline, events.recv())
                .await
                .context("killed members OFFLINE in time")?
                .context("events channel open")?;
            if change.status == OperatingStatus::Offline && pending.remove(&change.member_id) {
                assert!(!states.find(change.member_id).expect("state").is_up());
                latencies.push(killed.elapsed());
            }
        }
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "death to OFFLINE ({} members, bound delay x fall + timeout = {} s): \
             min {:.0} ms, median {:.0} ms, max {:.0} ms",
            latencies.len(),
            args.fall + 1,
            ms(latencies[0]),
            ms(latencies[latencies.len() / 2]),
            ms(latencies[latencies.len() - 1]),
        );
        shutdown.cancel();
        anyhow::Ok(())
    })?;
    member_runtime.shutdown_background();
    Ok(())
}
