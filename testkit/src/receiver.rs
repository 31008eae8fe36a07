//! A webhook receiver on loopback for tests, benchmarks and the demo: it records every request
//! with its Standard Webhooks headers, verifies the signature against the secrets it is given,
//! and answers as told (accept, fail with a status, hang past the sender's timeout, redirect),
//! and can go down and come back on the same port.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use kassa_sdk::webhook::{self, Secret};
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 204.
    Accept,
    /// This status code.
    Status(u16),
    /// Waits this long, then 204 (longer than the sender's timeout: a timeout).
    Hang(Duration),
    /// 302 to another URL.
    Redirect,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub at: Instant,
    /// Whether the signature verified against the secrets set at arrival (at the timestamp's
    /// own time, so a test's advanced clock does not matter).
    pub verified: bool,
    /// What the receiver answered.
    pub answered: Behaviour,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body's `type`.
    pub fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }
}

#[derive(Default)]
struct Inner {
    behaviour: Option<Behaviour>,
    secrets: Vec<Secret>,
    received: Vec<Received>,
    /// Answers still to give before the standing behaviour (e.g. three 500s, then accept).
    script: Vec<Behaviour>,
}

/// The receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Receiver {
    /// Listens on a free loopback port, accepting everything.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner::default()));
        let task = serve(listener, inner.clone());
        Ok(Self {
            addr,
            url: format!("http://{addr}/hooks"),
            inner,
            task: Mutex::new(Some(task)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        self.lock().behaviour = Some(b);
    }

    /// Answers these first, in order, then the standing behaviour.
    pub fn script(&self, answers: &[Behaviour]) {
        let mut i = self.lock();
        i.script = answers.iter().rev().copied().collect();
    }

    /// The secrets signatures are verified with (every secret the endpoint has now).
    pub fn set_secrets(&self, secrets: Vec<Secret>) {
        self.lock().secrets = secrets;
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// The requests it accepted (answered 2xx).
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered == Behaviour::Accept)
            .collect()
    }

    /// Waits until `pred` holds of what arrived, or `timeout` passes.
    pub async fn wait_until(&self, timeout: Duration, pred: impl Fn(&[Received]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if pred(&self.received()) {
                return true;
            }
            if Instant::now() > end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops listening: connections are refused until [`Self::up`].
    pub fn down(&self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn up(&self) -> anyhow::Result<()> {
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    tracing::debug!("rebinding the receiver: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(serve(listener, self.inner.clone()));
        Ok(())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

fn serve(listener: tokio::net::TcpListener, inner: Arc<Mutex<Inner>>) -> JoinHandle<()> {
    let app = Router::new()
        .route("/hooks", post(receive))
        .with_state(inner);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (id, timestamp, signature) = (
        h(webhook::HEADER_ID),
        h(webhook::HEADER_TIMESTAMP),
        h(webhook::HEADER_SIGNATURE),
    );
    let answer = {
        let mut i = inner.lock().unwrap_or_else(|e| e.into_inner());
        let answer = i
            .script
            .pop()
            .unwrap_or(i.behaviour.unwrap_or(Behaviour::Accept));
        // Verified at the message's own time: the tests move the sender's clock by days.
        let at = timestamp.parse::<i64>().unwrap_or(0);
        let verified = webhook::verify(&i.secrets, &id, &timestamp, &signature, &body, at).is_ok();
        i.received.push(Received {
            id,
            timestamp,
            signature,
            body: body.to_vec(),
            at: Instant::now(),
            verified,
            answered: answer,
        });
        answer
    };
    match answer {
        Behaviour::Accept => StatusCode::NO_CONTENT.into_response(),
        Behaviour::Status(s) => (
            StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "failing on purpose",
        )
            .into_response(),
        Behaviour::Hang(d) => {
            tokio::time::sleep(d).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Behaviour::Redirect => (
            StatusCode::FOUND,
            [(axum::http::header::LOCATION, "http://127.0.0.1:9/elsewhere")],
        )
            .into_response(),
    }
}
