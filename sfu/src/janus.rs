//! A small client of the Janus HTTP REST API (`/janus`), for a Janus on this machine.
//!
//! Plain HTTP/1.1 over [`std::net::TcpStream`], one request per connection
//! (`Connection: close`), JSON bodies. It refuses any address that is not loopback: Janus is the
//! adversary's relay, reached only on 127.0.0.1 in the tests, and a general-purpose HTTP client
//! (TLS, redirects, proxies) would be weight without use here. Responses are bounded by
//! [`MAX_HTTP_RESPONSE`] bytes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};

/// Largest HTTP response read from Janus (headers and body), in bytes.
pub const MAX_HTTP_RESPONSE: usize = 1024 * 1024;
/// Longest wait for a long poll (Janus answers after at most 30 s; keep-alive events earlier).
const POLL_TIMEOUT: Duration = Duration::from_secs(40);
/// Longest wait for any other request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a Janus request failed.
#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    /// The socket failed.
    #[error("janus: {0}")]
    Io(#[from] std::io::Error),
    /// The address is not a loopback address.
    #[error("janus: {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    /// The answer is not an HTTP response with a JSON body.
    #[error("janus: bad response: {0}")]
    BadResponse(String),
    /// Janus answered with an error.
    #[error("janus: error {code}: {reason}")]
    Janus {
        /// Janus's error code.
        code: i64,
        /// Janus's explanation.
        reason: String,
    },
}

/// A Janus session: created on construction, long-polled by [`Janus::poll`].
#[derive(Debug, Clone)]
pub struct Janus {
    addr: SocketAddr,
    session: u64,
}

impl Janus {
    /// Creates a session on the Janus at `addr` (a loopback address).
    pub fn connect(addr: SocketAddr) -> Result<Janus, JanusError> {
        if !addr.ip().is_loopback() {
            return Err(JanusError::NotLoopback(addr));
        }
        let v = post(
            addr,
            "/janus",
            &json!({"janus": "create", "transaction": "c"}),
        )?;
        let session = data_id(&v)?;
        Ok(Janus { addr, session })
    }

    /// Attaches a handle to `plugin` (for example `janus.plugin.videoroom`).
    pub fn attach(&self, plugin: &str) -> Result<u64, JanusError> {
        let v = post(
            self.addr,
            &self.path(),
            &json!({"janus": "attach", "plugin": plugin, "transaction": "a"}),
        )?;
        data_id(&v)
    }

    /// Sends a plugin message (with an optional JSEP) on `handle`; Janus acknowledges at once and
    /// answers with an event later (see [`poll`](Self::poll)), or answers synchronously.
    pub fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<Value, JanusError> {
        let mut req = json!({"janus": "message", "transaction": "m", "body": body});
        if let (Some(j), Some(obj)) = (jsep, req.as_object_mut()) {
            obj.insert("jsep".into(), j);
        }
        post(self.addr, &self.handle_path(handle), &req)
    }

    /// Sends a trickled ICE candidate (or the end of candidates when `candidate` is `None`).
    pub fn trickle(&self, handle: u64, candidate: Option<(u32, &str)>) -> Result<(), JanusError> {
        let c = match candidate {
            Some((mline, cand)) => json!({"sdpMLineIndex": mline, "candidate": cand}),
            None => json!({"completed": true}),
        };
        post(
            self.addr,
            &self.handle_path(handle),
            &json!({"janus": "trickle", "transaction": "t", "candidate": c}),
        )
        .map(|_| ())
    }

    /// Detaches `handle` (hangs up its PeerConnection).
    pub fn detach(&self, handle: u64) -> Result<(), JanusError> {
        post(
            self.addr,
            &self.handle_path(handle),
            &json!({"janus": "detach", "transaction": "d"}),
        )
        .map(|_| ())
    }

    /// Destroys the session.
    pub fn destroy(&self) -> Result<(), JanusError> {
        post(
            self.addr,
            &self.path(),
            &json!({"janus": "destroy", "transaction": "x"}),
        )
        .map(|_| ())
    }

    /// Long-polls the session's events (up to 10 at a time); also keeps the session alive.
    pub fn poll(&self) -> Result<Vec<Value>, JanusError> {
        let v = request(
            self.addr,
            "GET",
            &format!("{}?maxev=10", self.path()),
            None,
            POLL_TIMEOUT,
        )?;
        Ok(match v {
            Value::Array(a) => a,
            other => vec![other],
        })
    }

    fn path(&self) -> String {
        format!("/janus/{}", self.session)
    }

    fn handle_path(&self, handle: u64) -> String {
        format!("/janus/{}/{handle}", self.session)
    }
}

fn data_id(v: &Value) -> Result<u64, JanusError> {
    v.pointer("/data/id")
        .and_then(Value::as_u64)
        .ok_or_else(|| JanusError::BadResponse("no data.id".into()))
}

fn post(addr: SocketAddr, path: &str, body: &Value) -> Result<Value, JanusError> {
    let v = request(addr, "POST", path, Some(body), REQUEST_TIMEOUT)?;
    if v.get("janus").and_then(Value::as_str) == Some("error") {
        let code = v
            .pointer("/error/code")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let reason = v
            .pointer("/error/reason")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        return Err(JanusError::Janus { code, reason });
    }
    Ok(v)
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> Result<Value, JanusError> {
    if !addr.ip().is_loopback() {
        return Err(JanusError::NotLoopback(addr));
    }
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut s = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    let limit = u64::try_from(MAX_HTTP_RESPONSE).unwrap_or(u64::MAX);
    s.take(limit.saturating_add(1)).read_to_end(&mut raw)?;
    if raw.len() > MAX_HTTP_RESPONSE {
        return Err(JanusError::BadResponse("response too large".into()));
    }
    parse_response(&raw)
}

/// Parses an HTTP/1.1 response with a JSON body (`Content-Length` or read to close; chunked
/// transfer encoding is decoded).
fn parse_response(raw: &[u8]) -> Result<Value, JanusError> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| JanusError::BadResponse("no header end".into()))?;
    let (head, rest) = raw.split_at(split);
    let body = rest.get(4..).unwrap_or_default();
    let head = String::from_utf8_lossy(head);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| JanusError::BadResponse("no status".into()))?;
    if status != 200 {
        return Err(JanusError::BadResponse(format!("HTTP status {status}")));
    }
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    serde_json::from_slice(&body).map_err(|e| JanusError::BadResponse(e.to_string()))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, JanusError> {
    let bad = || JanusError::BadResponse("bad chunked body".into());
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let (line, rest) = body.split_at(eol);
        let size = std::str::from_utf8(line).map_err(|_| bad())?;
        let size = size.split(';').next().unwrap_or("").trim();
        let n = usize::from_str_radix(size, 16).map_err(|_| bad())?;
        let rest = rest.get(2..).ok_or_else(bad)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(rest.get(..n).ok_or_else(bad)?);
        body = rest.get(n.saturating_add(2)..).ok_or_else(bad)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"janus\":\"a\"}";
        assert_eq!(parse_response(plain).unwrap()["janus"], "a");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap()["a"], 1);
        assert!(parse_response(b"HTTP/1.1 500 No\r\n\r\n{}").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nab")
                .is_err()
        );
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn refuses_non_loopback_addresses() {
        let addr: SocketAddr = "192.0.2.1:8088".parse().unwrap();
        assert!(matches!(
            Janus::connect(addr),
            Err(JanusError::NotLoopback(_))
        ));
    }
}
