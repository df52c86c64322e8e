//! Who may reach the dashboard, and the headers every answer carries.
//!
//! A loopback address needs nothing (it is the user's own machine); any other address needs a
//! token. A client presents it once as `?token=` (the page's URL), which sets an `HttpOnly`,
//! `SameSite=Strict` cookie for the rest, or as `Authorization: Bearer`. Every answer forbids
//! framing and sniffing and allows scripts only from the server itself.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ServeError;

/// Who can reach a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Only this machine (a loopback address).
    Loopback,
    /// Other machines, with the token.
    Token,
}

/// Checks the address and token together: a non-loopback address needs a token.
pub fn exposure(bind: SocketAddr, token: Option<&str>) -> Result<Exposure, ServeError> {
    if let Some(t) = token
        && (!(16..=256).contains(&t.len())
            || t.bytes()
                .any(|b| !b.is_ascii_graphic() || b == b';' || b == b','))
    {
        return Err(ServeError::BadToken);
    }
    match (bind.ip().is_loopback(), token) {
        (true, _) => Ok(Exposure::Loopback),
        (false, Some(_)) => Ok(Exposure::Token),
        (false, None) => Err(ServeError::NeedsToken { addr: bind }),
    }
}

/// The token check shared by every route.
pub struct Guard {
    token: Option<String>,
}

impl Guard {
    /// A guard that wants `token` (none: everyone on the address may read).
    pub fn new(token: Option<String>) -> Guard {
        Guard { token }
    }

    fn presented<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Vec<&'a str> {
        let mut found = Vec::new();
        if let Some(q) = query {
            found.extend(q.split('&').filter_map(|kv| kv.strip_prefix("token=")));
        }
        if let Some(a) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            && let Some(t) = a.strip_prefix("Bearer ")
        {
            found.push(t);
        }
        for c in headers.get_all(header::COOKIE) {
            if let Ok(c) = c.to_str() {
                found.extend(
                    c.split(';')
                        .filter_map(|kv| kv.trim().strip_prefix("lrctl_token=")),
                );
            }
        }
        found
    }
}

/// Constant-time comparison, so that response times do not reveal how much of a guess matched.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Middleware: refuses requests without the token (when one is set), sets the cookie when the
/// token came in the URL, and adds the security headers.
pub async fn guard(State(g): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let mut set_cookie = None;
    if let Some(token) = &g.token {
        let query = request.uri().query();
        let ok = Guard::presented(request.headers(), query)
            .iter()
            .any(|t| same(t, token));
        if !ok {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                "this dashboard needs its token: open the URL lrctl serve printed\n",
            )
                .into_response();
            headers(r.headers_mut());
            return r;
        }
        if query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("token="))) {
            set_cookie = Some(format!(
                "lrctl_token={token}; HttpOnly; SameSite=Strict; Path=/"
            ));
        }
    }
    let mut response = next.run(request).await;
    headers(response.headers_mut());
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    response
}

/// The headers every answer carries: no framing, no sniffing, no referrer, scripts and styles
/// only from this server (uPlot sets styles through the DOM, which the policy allows).
fn headers(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_addresses_need_a_token() {
        let local: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        let t = "0123456789abcdef";
        assert_eq!(exposure(local, None).unwrap(), Exposure::Loopback);
        assert_eq!(exposure(any, Some(t)).unwrap(), Exposure::Token);
        assert!(matches!(
            exposure(any, None),
            Err(ServeError::NeedsToken { .. })
        ));
        assert!(matches!(
            exposure(local, Some("short")),
            Err(ServeError::BadToken)
        ));
        assert!(matches!(
            exposure(any, Some("0123456789abcdef; x")),
            Err(ServeError::BadToken)
        ));
        assert!(same(t, t) && !same(t, "0123456789abcdeF") && !same(t, "x"));
    }
}
