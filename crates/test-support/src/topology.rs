//! Topologies past one machine, as local processes on loopback (issue 21): a PostgreSQL primary
//! with a synchronous streaming standby, a repointable TCP proxy standing in for the stable
//! address an operator gives the primary (a Kubernetes service), and a Redis Cluster of three
//! masters and three replicas. Dropping a value stops exactly the processes it started.
//!
//! Ports come from one base (`MPS_TEST_PORT_BASE`, default 21000) plus a fixed offset per use,
//! so parallel tests and other suites on the machine never collide.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

pub use crate::process::{PgNode, Scratch, run};
use crate::process::{spawn_redis, wait_for_redis};

/// The first port of this run's range plus `offset` (`MPS_TEST_PORT_BASE`, default 21000).
pub fn port(offset: u16) -> u16 {
    let base: u16 = std::env::var("MPS_TEST_PORT_BASE").ok().and_then(|v| v.parse().ok()).unwrap_or(21000);
    base + offset
}

/// A primary and a streaming standby it waits for on every commit (`synchronous_standby_names`
/// and `synchronous_commit=on`): a payment acknowledged by the primary is on the standby's disk.
pub struct PgPair {
    pub primary: PgNode,
    pub standby: PgNode,
}

impl PgPair {
    /// initdb the primary, `pg_basebackup -R` the standby, start both and wait until the standby
    /// streams synchronously.
    pub fn start(scratch: &Path, primary_port: u16, standby_port: u16) -> PgPair {
        let primary = PgNode::new(scratch, "primary", primary_port);
        primary.initdb();
        primary.start(&["max_connections=80", "synchronous_standby_names='*'", "synchronous_commit=on"]);
        let standby = PgNode::new(scratch, "standby", standby_port);
        run(
            standby.tool("pg_basebackup").arg("-D").arg(standby.data()).args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port.to_string(),
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
            ]),
            "pg_basebackup",
        );
        // The promoted standby must itself be a primary that later standbys could follow.
        standby.start(&["max_connections=80", "synchronous_commit=on"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while primary.psql("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") != "1" {
            assert!(Instant::now() < deadline, "the standby did not stream synchronously within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        PgPair { primary, standby }
    }
}

/// A TCP proxy whose target can be changed: the stable address of "the primary". Repointing
/// cuts every open connection, as a service whose endpoint moved does.
pub struct TcpProxy {
    pub port: u16,
    target: Arc<Mutex<Option<SocketAddr>>>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on `port` and forwards to `target`.
    pub async fn start(port: u16, target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind the proxy port");
        let target = Arc::new(Mutex::new(Some(target)));
        let connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (to, tracked) = (target.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Some(target) = *to.lock().unwrap() else { continue };
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut tracked = tracked.lock().unwrap();
                tracked.retain(|t| !t.is_finished());
                tracked.push(task.abort_handle());
            }
        });
        TcpProxy { port, target, connections, accept }
    }

    /// Sends new connections to `target` (`None`: refuse them) and cuts the open ones.
    pub fn repoint(&self, target: Option<SocketAddr>) {
        *self.target.lock().unwrap() = target;
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    pub fn pg_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.repoint(None);
        self.accept.abort();
    }
}

/// The loopback address of a local port.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A Redis Cluster of three masters and three replicas (`redis-server --cluster-enabled yes`,
/// `redis-cli --cluster create … --cluster-replicas 1`).
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Option<Child>>,
}

/// How long a master may be unreachable before its replica takes over.
pub const CLUSTER_NODE_TIMEOUT_MS: u64 = 1000;
/// A node's cluster bus listens on its port plus this.
pub const CLUSTER_BUS_OFFSET: u16 = 100;

impl RedisCluster {
    /// Starts six nodes on `first_port`.. and joins them; waits until the cluster is `ok`.
    pub fn start(scratch: &Path, first_port: u16) -> RedisCluster {
        let dir = scratch.join("redis-cluster");
        std::fs::create_dir_all(&dir).expect("create the Redis Cluster directory");
        let ports: Vec<u16> = (0..6).map(|i| first_port + i).collect();
        let children = ports
            .iter()
            .map(|&port| {
                let bus = (port + CLUSTER_BUS_OFFSET).to_string();
                let timeout = CLUSTER_NODE_TIMEOUT_MS.to_string();
                let config = format!("nodes-{port}.conf");
                let args = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &config,
                    // The bus port stays in this run's range (the default, port + 10000, would not).
                    "--cluster-port",
                    &bus,
                    "--cluster-node-timeout",
                    &timeout,
                    // A replica that has just been created has a stale-looking link to its
                    // master; factor 0 lets it fail over however old its last exchange.
                    "--cluster-replica-validity-factor",
                    "0",
                    "--repl-ping-replica-period",
                    "1",
                ];
                Some(spawn_redis(&dir, port, &args, &format!("{port}.log")))
            })
            .collect();
        let cluster = RedisCluster { ports, children };
        for port in &cluster.ports {
            wait_for_redis(*port);
        }
        let nodes: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        run(
            Command::new("redis-cli").args(["--cluster", "create"]).args(&nodes).args([
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ]),
            "redis-cli --cluster create",
        );
        cluster.wait_ok(Duration::from_secs(30));
        cluster
    }

    /// `redis-cli -p PORT ARGS…`, its output trimmed; `None` when the node does not answer.
    pub fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let output = Command::new("redis-cli").args(["-p", &port.to_string()]).args(args).output().ok()?;
        let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        (output.status.success() && !text.is_empty() && !text.starts_with("Could not connect")).then_some(text)
    }

    /// The nodes still running.
    fn live_ports(&self) -> Vec<u16> {
        self.ports.iter().zip(&self.children).filter(|(_, c)| c.is_some()).map(|(p, _)| *p).collect()
    }

    /// Waits until every running node reports `cluster_state:ok` and every slot is served by a
    /// running master; returns how long that took.
    pub fn wait_ok(&self, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let ok = self.live_ports().iter().all(|p| {
                self.cli(*p, &["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384"))
            }) && self.masters().len() == 3;
            if ok {
                return started.elapsed();
            }
            assert!(started.elapsed() < within, "the Redis Cluster was not ok within {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The running nodes whose role is master.
    pub fn masters(&self) -> Vec<u16> {
        self.live_ports()
            .into_iter()
            .filter(|p| self.cli(*p, &["ROLE"]).is_some_and(|role| role.lines().next() == Some("master")))
            .collect()
    }

    /// The running master that owns `key`'s slot, from `CLUSTER NODES` of a running node.
    pub fn master_of(&self, key: &str) -> u16 {
        let any = self.live_ports()[0];
        let slot: u16 =
            self.cli(any, &["CLUSTER", "KEYSLOT", key]).and_then(|s| s.parse().ok()).expect("CLUSTER KEYSLOT answers");
        let nodes = self.cli(any, &["CLUSTER", "NODES"]).expect("CLUSTER NODES answers");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let owns = fields[8..].iter().any(|range| {
                let (low, high) = range.split_once('-').unwrap_or((range, range));
                matches!((low.parse::<u16>(), high.parse::<u16>()), (Ok(l), Ok(h)) if (l..=h).contains(&slot))
            });
            if owns {
                let address = fields[1].split('@').next().unwrap_or_default();
                return address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a node address");
            }
        }
        panic!("no running master owns the slot of {key}")
    }

    /// kill -9 of one node.
    pub fn kill(&mut self, port: u16) {
        let index = self.ports.iter().position(|p| *p == port).expect("a node of this cluster");
        if let Some(mut child) = self.children[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `REDIS_URL` for the cluster: every master as a seed node.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.ports[..3].iter().map(|p| format!("127.0.0.1:{p}")).collect();
        format!("redis+cluster://{}", nodes.join(","))
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// nginx in front of `mps` replicas, with the upstream of the project's `nginx.conf`: keepalive
/// connections, `max_fails=0` (a replica that refused a connection is tried again next time),
/// and `proxy_next_upstream error timeout` (a refused connection moves on to the next replica;
/// a request already sent is never sent twice). Plain HTTP on loopback, no rate limit.
pub struct Nginx {
    pub port: u16,
    child: Option<Child>,
}

impl Nginx {
    pub fn start(scratch: &Path, port: u16, replicas: &[u16]) -> Nginx {
        let dir = scratch.join("nginx");
        std::fs::create_dir_all(dir.join("tmp")).expect("create the nginx directory");
        // Workers run as an unprivileged user when we are root: they write their temp files here.
        run(Command::new("chmod").args(["-R", "777"]).arg(&dir), "chmod the nginx directory");
        let servers: String = replicas.iter().map(|p| format!("        server 127.0.0.1:{p} max_fails=0;\n")).collect();
        let d = dir.display();
        let conf = format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections \
             1024; }}\nhttp {{\n    access_log off;\n    client_body_temp_path {d}/tmp/body;\n    proxy_temp_path \
             {d}/tmp/proxy;\n    fastcgi_temp_path {d}/tmp/fastcgi;\n    uwsgi_temp_path {d}/tmp/uwsgi;\n    \
             scgi_temp_path {d}/tmp/scgi;\n    upstream mps_api {{\n{servers}        keepalive 32;\n        \
             keepalive_timeout 20s;\n    }}\n    server {{\n        listen 127.0.0.1:{port};\n        location / \
             {{\n            proxy_pass http://mps_api;\n            proxy_http_version 1.1;\n            \
             proxy_set_header Connection \"\";\n            proxy_next_upstream error timeout;\n            \
             proxy_read_timeout 30s;\n        }}\n    }}\n}}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&path)
            .args(["-p", &d.to_string(), "-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts (install nginx)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(local(port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {port} within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { port, child: Some(child) }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A fast shutdown (SIGTERM) lets the master stop its workers; SIGKILL would orphan them.
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
