//! WebSocket subscriptions on the RPC port + 1, as an Agave node serves them:
//! `signatureSubscribe`, `accountSubscribe`, `logsSubscribe` (with `mentions`) and
//! `slotSubscribe`, with their `*Unsubscribe` counterparts. Enough for the JavaScript clients'
//! `sendAndConfirmTransaction` and for `solana-pubsub-client`.

use crate::node::{Node, NodeEvent};
use axum::{
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        State,
    },
    response::Response,
};
use serde_json::{json, Value};
use solana_account_decoder::{encode_ui_account, UiAccountEncoding};
use solana_sdk::{pubkey::Pubkey, signature::Signature};
use std::{collections::HashMap, str::FromStr, sync::Arc};
use tokio::sync::{broadcast::error::RecvError, Mutex};

#[derive(Clone, Debug)]
enum Sub {
    Signature {
        signature: Signature,
        finalized: bool,
    },
    Account {
        pubkey: Pubkey,
        encoding: UiAccountEncoding,
    },
    Logs {
        mentions: Option<Pubkey>,
    },
    Slot,
}

fn finalized(config: Option<&Value>) -> bool {
    config
        .and_then(|c| c.get("commitment"))
        .and_then(Value::as_str)
        == Some("finalized")
}

/// Upgrades an HTTP request to the subscription socket.
pub async fn handler(ws: WebSocketUpgrade, State(node): State<Arc<Mutex<Node>>>) -> Response {
    ws.on_upgrade(move |socket| serve(socket, node))
}

async fn send(socket: &mut WebSocket, v: Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

fn notification(method: &str, sub: u64, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": {"result": result, "subscription": sub}})
}

async fn serve(mut socket: WebSocket, node: Arc<Mutex<Node>>) {
    let mut events = node.lock().await.events.subscribe();
    let mut subs: HashMap<u64, Sub> = HashMap::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                let Message::Text(text) = message else { continue };
                let reply = match serde_json::from_str::<Value>(&text) {
                    Err(_) => json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}),
                    Ok(req) => {
                        let id = req.get("id").cloned().unwrap_or(Value::Null);
                        let method = req.get("method").and_then(Value::as_str).unwrap_or_default().to_string();
                        let params = req.get("params").and_then(Value::as_array).cloned().unwrap_or_default();
                        match subscribe(&method, &params) {
                            Ok(Some(sub)) => {
                                next_id += 1;
                                subs.insert(next_id, sub.clone());
                                let reply = json!({"jsonrpc": "2.0", "result": next_id, "id": id});
                                if !send(&mut socket, reply).await { return }
                                // A signature that already reached the commitment is reported at once.
                                if let Sub::Signature { signature, finalized } = sub {
                                    let done = {
                                        let node = node.lock().await;
                                        node.transaction(&signature).filter(|r| !finalized || r.slot <= node.finalized_slot()).map(|r| (node.slot(), r.meta.status.clone().err()))
                                    };
                                    if let Some((slot, err)) = done {
                                        subs.remove(&next_id);
                                        let result = json!({"context": {"slot": slot}, "value": {"err": err}});
                                        if !send(&mut socket, notification("signatureNotification", next_id, result)).await { return }
                                    }
                                }
                                continue;
                            }
                            Ok(None) if method.ends_with("Unsubscribe") => {
                                let removed = params.first().and_then(Value::as_u64).and_then(|n| subs.remove(&n)).is_some();
                                if removed {
                                    json!({"jsonrpc": "2.0", "result": true, "id": id})
                                } else {
                                    json!({"jsonrpc": "2.0", "error": {"code": -32602, "message": "Invalid subscription id."}, "id": id})
                                }
                            }
                            Ok(None) => json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": id}),
                            Err(message) => json!({"jsonrpc": "2.0", "error": {"code": -32602, "message": message}, "id": id}),
                        }
                    }
                };
                if !send(&mut socket, reply).await { return }
            }
            event = events.recv() => {
                let event = match event {
                    Ok(e) => e,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                for (id, sub) in subs.clone() {
                    if let Some(message) = notify(&node, id, &sub, &event).await {
                        if matches!(sub, Sub::Signature { .. }) {
                            subs.remove(&id);
                        }
                        if !send(&mut socket, message).await { return }
                    }
                }
            }
        }
    }
}

fn subscribe(method: &str, params: &[Value]) -> Result<Option<Sub>, String> {
    let key = |i: usize| -> Result<Pubkey, String> {
        params
            .get(i)
            .and_then(Value::as_str)
            .and_then(|s| Pubkey::from_str(s).ok())
            .ok_or_else(|| "Invalid Request: Invalid pubkey provided".to_string())
    };
    Ok(Some(match method {
        "signatureSubscribe" => {
            let s = params
                .first()
                .and_then(Value::as_str)
                .ok_or("Invalid Request: missing signature")?;
            Sub::Signature {
                signature: Signature::from_str(s)
                    .map_err(|_| "Invalid Request: Invalid signature provided")?,
                finalized: finalized(params.get(1)),
            }
        }
        "accountSubscribe" => {
            let encoding = params
                .get(1)
                .and_then(|c| c.get("encoding"))
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| format!("Invalid params: {e}"))?
                .unwrap_or(UiAccountEncoding::Base64);
            Sub::Account {
                pubkey: key(0)?,
                encoding,
            }
        }
        "logsSubscribe" => match params.first() {
            Some(Value::String(s)) if s == "all" || s == "allWithVotes" => {
                Sub::Logs { mentions: None }
            }
            Some(Value::Object(o)) => {
                let m = o
                    .get("mentions")
                    .and_then(Value::as_array)
                    .filter(|m| m.len() == 1)
                    .ok_or("Invalid Request: Only 1 address supported")?;
                Sub::Logs {
                    mentions: Some(
                        m[0].as_str()
                            .and_then(|s| Pubkey::from_str(s).ok())
                            .ok_or("Invalid Request: Invalid pubkey provided")?,
                    ),
                }
            }
            _ => return Err("Invalid Request: logs filter required".into()),
        },
        "slotSubscribe" => Sub::Slot,
        _ => return Ok(None),
    }))
}

async fn notify(node: &Mutex<Node>, id: u64, sub: &Sub, event: &NodeEvent) -> Option<Value> {
    match (sub, event) {
        (
            Sub::Slot,
            NodeEvent::Slot {
                slot,
                parent,
                finalized,
            },
        ) => Some(notification(
            "slotNotification",
            id,
            json!({"slot": slot, "parent": parent, "root": finalized}),
        )),
        (
            Sub::Signature {
                signature,
                finalized: false,
            },
            NodeEvent::Transaction {
                signature: s,
                slot,
                err,
                dropped: false,
                ..
            },
        ) if s == signature => Some(notification(
            "signatureNotification",
            id,
            json!({"context": {"slot": slot}, "value": {"err": err}}),
        )),
        (
            Sub::Signature {
                signature,
                finalized: true,
            },
            NodeEvent::Slot { finalized, .. },
        ) => {
            let node = node.lock().await;
            let record = node
                .transaction(signature)
                .filter(|r| r.slot <= *finalized)?;
            Some(notification(
                "signatureNotification",
                id,
                json!({"context": {"slot": node.slot()}, "value": {"err": record.meta.status.clone().err()}}),
            ))
        }
        (
            Sub::Logs { mentions },
            NodeEvent::Transaction {
                signature,
                slot,
                err,
                logs,
                accounts,
                dropped: false,
            },
        ) => {
            if mentions.is_some_and(|m| !accounts.contains(&m)) {
                return None;
            }
            Some(notification(
                "logsNotification",
                id,
                json!({"context": {"slot": slot}, "value": {"signature": signature.to_string(), "err": err, "logs": logs}}),
            ))
        }
        (Sub::Account { pubkey, encoding }, NodeEvent::Transaction { accounts, slot, .. })
            if accounts.contains(pubkey) =>
        {
            let node = node.lock().await;
            let account = node.account(pubkey)?;
            let ui = encode_ui_account(pubkey, &account, *encoding, None, None);
            Some(notification(
                "accountNotification",
                id,
                json!({"context": {"slot": slot}, "value": ui}),
            ))
        }
        _ => None,
    }
}
