//! Outbound HTTP, decided request by request by the host owner's policy (action `http:send`).
//!
//! The host sends the request and returns the whole response; there is no streaming. A host
//! that does not offer HTTP answers every call with [`Error::Unsupported`](crate::Error).
//!
//! # Example
//!
//! ```no_run
//! use cordon_guest::http::{self, Request};
//!
//! let page = http::get("https://example.com/status")?;
//! if page.is_success() {
//!     let _text = page.text()?;
//! }
//!
//! let created = http::send(
//!     Request::post("https://example.com/api/notes", r#"{"text":"hi"}"#)
//!         .header("content-type", "application/json"),
//! )?;
//! let _status = created.status;
//! # Ok::<(), cordon_guest::Error>(())
//! ```

use serde::de::DeserializeOwned;

use crate::__bindings::cordon::agent::http as wit;
use crate::{Error, Result};

/// An HTTP request to [`send`].
///
/// ```
/// use cordon_guest::http::Request;
///
/// let request = Request::new("PUT", "https://example.com/a")
///     .header("content-type", "text/plain")
///     .body("hello");
/// assert_eq!(request.method, "PUT");
/// assert_eq!(request.body.as_deref(), Some(&b"hello"[..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// An absolute `http` or `https` URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A request with `method` and `url`, no headers and no body.
    ///
    /// ```
    /// let request = cordon_guest::http::Request::new("DELETE", "https://example.com/a/1");
    /// assert!(request.headers.is_empty());
    /// ```
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A `GET` request.
    ///
    /// ```
    /// let request = cordon_guest::http::Request::get("https://example.com/");
    /// assert_eq!(request.method, "GET");
    /// ```
    pub fn get(url: impl Into<String>) -> Self {
        Request::new("GET", url)
    }

    /// A `POST` request with a body.
    ///
    /// ```
    /// let request = cordon_guest::http::Request::post("https://example.com/", "x=1");
    /// assert_eq!(request.body, Some(b"x=1".to_vec()));
    /// ```
    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Request::new("POST", url).body(body)
    }

    /// Add a header.
    ///
    /// ```
    /// let request = cordon_guest::http::Request::get("https://example.com/")
    ///     .header("accept", "application/json");
    /// assert_eq!(request.headers, [("accept".to_owned(), "application/json".to_owned())]);
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Set the body.
    ///
    /// ```
    /// let request = cordon_guest::http::Request::new("PUT", "https://example.com/").body(vec![1, 2]);
    /// assert_eq!(request.body, Some(vec![1, 2]));
    /// ```
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }
}

/// The whole response to a request.
///
/// ```no_run
/// let response = cordon_guest::http::get("https://example.com/")?;
/// let _kind = response.header("content-type");
/// # Ok::<(), cordon_guest::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// True for a 2xx status.
    ///
    /// ```
    /// # use cordon_guest::http::Response;
    /// let response = Response { status: 204, headers: vec![], body: vec![] };
    /// assert!(response.is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name`, compared without case.
    ///
    /// ```
    /// # use cordon_guest::http::Response;
    /// let response = Response {
    ///     status: 200,
    ///     headers: vec![("Content-Type".into(), "text/plain".into())],
    ///     body: vec![],
    /// };
    /// assert_eq!(response.header("content-type"), Some("text/plain"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as UTF-8 text; [`Error::Invalid`] if it is not.
    ///
    /// ```
    /// # use cordon_guest::http::Response;
    /// let response = Response { status: 200, headers: vec![], body: b"ok".to_vec() };
    /// assert_eq!(response.text().unwrap(), "ok");
    /// ```
    pub fn text(&self) -> Result<&str> {
        core::str::from_utf8(&self.body)
            .map_err(|err| Error::Invalid(format!("response body is not UTF-8 text: {err}")))
    }

    /// The body parsed as JSON; [`Error::Json`] if it does not parse as `T`.
    ///
    /// ```
    /// # use cordon_guest::http::Response;
    /// let response = Response { status: 200, headers: vec![], body: br#"{"n":1}"#.to_vec() };
    /// let value: serde_json::Value = response.json().unwrap();
    /// assert_eq!(value["n"], 1);
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// Send a request and wait for the whole response (action `http:send`).
///
/// ```no_run
/// use cordon_guest::http::{self, Request};
///
/// let response = http::send(Request::get("https://example.com/").header("accept", "text/html"))?;
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn send(request: Request) -> Result<Response> {
    let request = wit::Request {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
    };
    let response = wit::send(&request)?;
    Ok(Response {
        status: response.status,
        headers: response.headers,
        body: response.body,
    })
}

/// `GET` a URL (action `http:send`).
///
/// ```no_run
/// let body = cordon_guest::http::get("https://example.com/")?.body;
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn get(url: impl Into<String>) -> Result<Response> {
    send(Request::get(url))
}
