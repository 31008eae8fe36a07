//! The HTTP JSON-RPC 2.0 endpoint and the slot clock of a running localnet.

use crate::{
    node::{Node, NodeConfig, NodeError},
    rpc::{dispatch, RpcError},
};
use axum::{extract::State, routing::post, Json, Router};
use serde_json::{json, Value};
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::{net::TcpListener, sync::Mutex, task::JoinHandle};

/// A running node with its RPC endpoint.
pub struct Localnet {
    pub rpc_url: String,
    /// WebSocket subscriptions, on the RPC port + 1.
    pub ws_url: String,
    pub addr: SocketAddr,
    pub node: Arc<Mutex<Node>>,
    /// This node's genesis hash: its own, different from every other node's.
    pub genesis_hash: solana_sdk::hash::Hash,
    offline: Arc<AtomicU8>,
    tasks: Vec<JoinHandle<()>>,
}

impl Localnet {
    /// The node's CAIP-2 chain id, as x402 and wallets name a Solana cluster: `solana:` and the
    /// first 32 characters of the genesis hash.
    pub fn caip2(&self) -> String {
        let hash = self.genesis_hash.to_string();
        format!("solana:{}", &hash[..hash.len().min(32)])
    }

    /// Fault injection: while offline the RPC endpoint answers every request with HTTP 503,
    /// as a node that is down behind its load balancer; the chain itself keeps its state.
    pub fn set_offline(&self, offline: bool) {
        self.set_fault(if offline { Fault::Offline } else { Fault::None });
    }

    /// Fault injection on the RPC endpoint (the chain itself keeps its state).
    pub fn set_fault(&self, fault: Fault) {
        self.offline.store(fault as u8, Ordering::SeqCst);
    }
}

/// What the RPC endpoint does instead of answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    None = 0,
    /// HTTP 503 to everything.
    Offline = 1,
    /// HTTP 200 with a body that is not JSON-RPC.
    Garbage = 2,
}

impl Drop for Localnet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// How to start a localnet.
#[derive(Clone, Debug)]
pub struct LocalnetConfig {
    /// Where the RPC listens; port 0 picks a free port.
    pub rpc_addr: SocketAddr,
    pub node: NodeConfig,
    /// A new slot at least this often, even without transactions.
    pub slot_interval: Duration,
}

impl Default for LocalnetConfig {
    fn default() -> Self {
        Self {
            rpc_addr: SocketAddr::from(([127, 0, 0, 1], 8899)),
            node: NodeConfig::default(),
            slot_interval: Duration::from_millis(400),
        }
    }
}

/// Starts the bank with the Kassa programs, the slot clock and the RPC endpoint.
pub async fn start(config: LocalnetConfig) -> Result<Localnet, NodeError> {
    let known: Vec<_> = kassa_sdk::programs::KassaProgram::ALL
        .iter()
        .map(|p| p.id())
        .chain([anchor_spl::token::ID, anchor_spl::token_2022::ID])
        .collect();
    let node = Arc::new(Mutex::new(Node::start(config.node, known).await));
    let (listener, ws_listener) = bind_pair(config.rpc_addr).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| NodeError::Warp(e.to_string()))?;
    let offline = Arc::new(AtomicU8::new(Fault::None as u8));
    let app = Router::new()
        .route("/", post(handle))
        .layer(axum::middleware::from_fn_with_state(
            offline.clone(),
            outage,
        ))
        .with_state(node.clone());
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("rpc server stopped: {e}");
        }
    });
    let ws_addr = ws_listener
        .local_addr()
        .map_err(|e| NodeError::Warp(e.to_string()))?;
    let ws_app = Router::new()
        .route("/", axum::routing::any(crate::pubsub::handler))
        .with_state(node.clone());
    let pubsub = tokio::spawn(async move {
        if let Err(e) = axum::serve(ws_listener, ws_app).await {
            tracing::error!("pubsub server stopped: {e}");
        }
    });
    let clock_node = node.clone();
    let interval = config.slot_interval;
    let clock = tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            if let Err(e) = clock_node.lock().await.advance_slot() {
                tracing::error!("slot clock stopped: {e}");
                return;
            }
        }
    });
    let genesis_hash = {
        let mut n = node.lock().await;
        n.rpc_addr = Some(addr);
        n.genesis_hash
    };
    Ok(Localnet {
        genesis_hash,
        rpc_url: format!("http://{addr}"),
        ws_url: format!("ws://{ws_addr}"),
        addr,
        node,
        offline,
        tasks: vec![server, pubsub, clock],
    })
}

/// Binds the RPC port and, as on an Agave node, the subscription port right
/// after it. With port 0 the pair is chosen free: a free RPC port whose
/// neighbour is taken is given back and another tried, so parallel nodes
/// (tests, benches) never collide.
async fn bind_pair(rpc_addr: SocketAddr) -> Result<(TcpListener, TcpListener), NodeError> {
    let attempts = if rpc_addr.port() == 0 { 64 } else { 1 };
    let mut last = String::new();
    for _ in 0..attempts {
        let rpc = TcpListener::bind(rpc_addr)
            .await
            .map_err(|e| NodeError::Warp(format!("cannot listen on {rpc_addr}: {e}")))?;
        let addr = rpc
            .local_addr()
            .map_err(|e| NodeError::Warp(e.to_string()))?;
        let Some(ws_port) = addr.port().checked_add(1) else {
            last = format!("no port after {addr} for subscriptions");
            continue;
        };
        let ws_addr = SocketAddr::new(addr.ip(), ws_port);
        match TcpListener::bind(ws_addr).await {
            Ok(ws) => return Ok((rpc, ws)),
            Err(e) => last = format!("cannot listen on {ws_addr} (subscriptions): {e}"),
        }
    }
    Err(NodeError::Warp(last))
}

fn response(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(v) => json!({"jsonrpc": "2.0", "result": v, "id": id}),
        Err(e) => json!({"jsonrpc": "2.0", "error": e.to_json(), "id": id}),
    }
}

async fn one(node: &Mutex<Node>, request: Value) -> Value {
    let Value::Object(obj) = request else {
        return response(Value::Null, Err(RpcError::invalid_request()));
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let (Some(Value::String(method)), true) =
        (obj.get("method"), obj.get("jsonrpc") == Some(&json!("2.0")))
    else {
        return response(id, Err(RpcError::invalid_request()));
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    let mut node = node.lock().await;
    response(id, dispatch(&mut node, method, params).await)
}

async fn outage(
    State(offline): State<Arc<AtomicU8>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match offline.load(Ordering::SeqCst) {
        1 => return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "node offline").into_response(),
        2 => {
            return (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                "{\"jsonrpc\":\"2.0\",\"result\":{\"surprise\":[1,2,",
            )
                .into_response()
        }
        _ => {}
    }
    next.run(request).await
}

async fn handle(State(node): State<Arc<Mutex<Node>>>, body: String) -> Json<Value> {
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return Json(response(Value::Null, Err(RpcError::parse())));
    };
    match request {
        Value::Array(batch) if batch.is_empty() => {
            Json(response(Value::Null, Err(RpcError::invalid_request())))
        }
        Value::Array(batch) => {
            let mut out = Vec::with_capacity(batch.len());
            for r in batch {
                out.push(one(&node, r).await);
            }
            Json(Value::Array(out))
        }
        single => Json(one(&node, single).await),
    }
}
