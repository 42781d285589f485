//! `wasi:http/types#error-code`: the Rust form hosts see, and its component value.

use crate::component::Val;
use crate::error::Trap;
use crate::wasi::val::{option, record};
use std::fmt;

/// The `error-code` variant of `wasi:http/types` (payload-carrying cases keep their payload).
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorCode {
    /// `DNS-timeout`.
    DnsTimeout,
    /// `DNS-error` (rcode, info-code).
    DnsError(Option<String>, Option<u16>),
    /// `destination-not-found`.
    DestinationNotFound,
    /// `destination-unavailable`.
    DestinationUnavailable,
    /// `destination-IP-prohibited`.
    DestinationIpProhibited,
    /// `destination-IP-unroutable`.
    DestinationIpUnroutable,
    /// `connection-refused`.
    ConnectionRefused,
    /// `connection-terminated`.
    ConnectionTerminated,
    /// `connection-timeout`.
    ConnectionTimeout,
    /// `connection-read-timeout`.
    ConnectionReadTimeout,
    /// `connection-write-timeout`.
    ConnectionWriteTimeout,
    /// `connection-limit-reached`.
    ConnectionLimitReached,
    /// `TLS-protocol-error`.
    TlsProtocolError,
    /// `TLS-certificate-error`.
    TlsCertificateError,
    /// `HTTP-request-denied`.
    HttpRequestDenied,
    /// `HTTP-request-length-required`.
    HttpRequestLengthRequired,
    /// `HTTP-request-body-size`.
    HttpRequestBodySize(Option<u64>),
    /// `HTTP-request-method-invalid`.
    HttpRequestMethodInvalid,
    /// `HTTP-request-URI-invalid`.
    HttpRequestUriInvalid,
    /// `HTTP-request-URI-too-long`.
    HttpRequestUriTooLong,
    /// `HTTP-request-header-section-size`.
    HttpRequestHeaderSectionSize(Option<u32>),
    /// `HTTP-response-incomplete`.
    HttpResponseIncomplete,
    /// `HTTP-response-header-section-size`.
    HttpResponseHeaderSectionSize(Option<u32>),
    /// `HTTP-response-body-size`.
    HttpResponseBodySize(Option<u64>),
    /// `HTTP-response-transfer-coding`.
    HttpResponseTransferCoding(Option<String>),
    /// `HTTP-response-content-coding`.
    HttpResponseContentCoding(Option<String>),
    /// `HTTP-response-timeout`.
    HttpResponseTimeout,
    /// `HTTP-upgrade-failed`.
    HttpUpgradeFailed,
    /// `HTTP-protocol-error`.
    HttpProtocolError,
    /// `loop-detected`.
    LoopDetected,
    /// `configuration-error`.
    ConfigurationError,
    /// `internal-error`.
    InternalError(Option<String>),
    /// Any other case, by WIT name (payload kept as a value), as a guest sent it.
    Other(String, Option<Box<Val>>),
}

impl ErrorCode {
    /// The WIT case name.
    pub fn case(&self) -> &str {
        use ErrorCode::*;
        match self {
            DnsTimeout => "DNS-timeout",
            DnsError(..) => "DNS-error",
            DestinationNotFound => "destination-not-found",
            DestinationUnavailable => "destination-unavailable",
            DestinationIpProhibited => "destination-IP-prohibited",
            DestinationIpUnroutable => "destination-IP-unroutable",
            ConnectionRefused => "connection-refused",
            ConnectionTerminated => "connection-terminated",
            ConnectionTimeout => "connection-timeout",
            ConnectionReadTimeout => "connection-read-timeout",
            ConnectionWriteTimeout => "connection-write-timeout",
            ConnectionLimitReached => "connection-limit-reached",
            TlsProtocolError => "TLS-protocol-error",
            TlsCertificateError => "TLS-certificate-error",
            HttpRequestDenied => "HTTP-request-denied",
            HttpRequestLengthRequired => "HTTP-request-length-required",
            HttpRequestBodySize(_) => "HTTP-request-body-size",
            HttpRequestMethodInvalid => "HTTP-request-method-invalid",
            HttpRequestUriInvalid => "HTTP-request-URI-invalid",
            HttpRequestUriTooLong => "HTTP-request-URI-too-long",
            HttpRequestHeaderSectionSize(_) => "HTTP-request-header-section-size",
            HttpResponseIncomplete => "HTTP-response-incomplete",
            HttpResponseHeaderSectionSize(_) => "HTTP-response-header-section-size",
            HttpResponseBodySize(_) => "HTTP-response-body-size",
            HttpResponseTransferCoding(_) => "HTTP-response-transfer-coding",
            HttpResponseContentCoding(_) => "HTTP-response-content-coding",
            HttpResponseTimeout => "HTTP-response-timeout",
            HttpUpgradeFailed => "HTTP-upgrade-failed",
            HttpProtocolError => "HTTP-protocol-error",
            LoopDetected => "loop-detected",
            ConfigurationError => "configuration-error",
            InternalError(_) => "internal-error",
            Other(name, _) => name,
        }
    }

    /// The component value (`error-code` variant).
    pub fn to_val(&self) -> Val {
        use ErrorCode::*;
        let s = |v: &Option<String>| option(v.clone().map(Val::String));
        let payload = match self {
            DnsError(rcode, info) => Some(record(vec![
                ("rcode", s(rcode)),
                ("info-code", option(info.map(Val::U16))),
            ])),
            HttpRequestBodySize(n) | HttpResponseBodySize(n) => Some(option(n.map(Val::U64))),
            HttpRequestHeaderSectionSize(n) | HttpResponseHeaderSectionSize(n) => {
                Some(option(n.map(Val::U32)))
            }
            HttpResponseTransferCoding(v) | HttpResponseContentCoding(v) | InternalError(v) => {
                Some(s(v))
            }
            Other(_, p) => p.as_deref().cloned(),
            _ => None,
        };
        Val::Variant(self.case().to_string(), payload.map(Box::new))
    }

    /// From a component value the guest passed.
    pub fn from_val(v: &Val) -> Result<ErrorCode, Trap> {
        let Val::Variant(name, payload) = v else {
            return Err(Trap::host(format!(
                "WASI: expected an error-code, got {v:?}"
            )));
        };
        let opt_str = || match payload.as_deref() {
            Some(Val::Option(Some(b))) => match &**b {
                Val::String(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        use ErrorCode::*;
        Ok(match name.as_str() {
            "DNS-timeout" => DnsTimeout,
            "destination-not-found" => DestinationNotFound,
            "destination-unavailable" => DestinationUnavailable,
            "destination-IP-prohibited" => DestinationIpProhibited,
            "destination-IP-unroutable" => DestinationIpUnroutable,
            "connection-refused" => ConnectionRefused,
            "connection-terminated" => ConnectionTerminated,
            "connection-timeout" => ConnectionTimeout,
            "connection-read-timeout" => ConnectionReadTimeout,
            "connection-write-timeout" => ConnectionWriteTimeout,
            "connection-limit-reached" => ConnectionLimitReached,
            "TLS-protocol-error" => TlsProtocolError,
            "TLS-certificate-error" => TlsCertificateError,
            "HTTP-request-denied" => HttpRequestDenied,
            "HTTP-request-length-required" => HttpRequestLengthRequired,
            "HTTP-request-method-invalid" => HttpRequestMethodInvalid,
            "HTTP-request-URI-invalid" => HttpRequestUriInvalid,
            "HTTP-request-URI-too-long" => HttpRequestUriTooLong,
            "HTTP-response-incomplete" => HttpResponseIncomplete,
            "HTTP-response-timeout" => HttpResponseTimeout,
            "HTTP-upgrade-failed" => HttpUpgradeFailed,
            "HTTP-protocol-error" => HttpProtocolError,
            "loop-detected" => LoopDetected,
            "configuration-error" => ConfigurationError,
            "internal-error" => InternalError(opt_str()),
            "HTTP-response-transfer-coding" => HttpResponseTransferCoding(opt_str()),
            "HTTP-response-content-coding" => HttpResponseContentCoding(opt_str()),
            other => Other(other.to_string(), payload.clone()),
        })
    }

    /// The HTTP status a server answers with when a handler reports this error instead of a
    /// response.
    pub fn status(&self) -> u16 {
        use ErrorCode::*;
        match self {
            HttpRequestDenied => 403,
            HttpRequestLengthRequired => 411,
            HttpRequestBodySize(_) => 413,
            HttpRequestUriTooLong => 414,
            HttpRequestHeaderSectionSize(_) => 431,
            HttpRequestMethodInvalid | HttpRequestUriInvalid => 400,
            ConnectionTimeout | ConnectionReadTimeout | HttpResponseTimeout | DnsTimeout => 504,
            DnsError(..)
            | DestinationNotFound
            | DestinationUnavailable
            | DestinationIpProhibited
            | DestinationIpUnroutable
            | ConnectionRefused
            | ConnectionTerminated
            | HttpResponseIncomplete
            | HttpProtocolError
            | TlsProtocolError
            | TlsCertificateError => 502,
            _ => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::InternalError(Some(m)) => write!(f, "internal-error: {m}"),
            ErrorCode::DnsError(rcode, _) => {
                write!(f, "DNS-error: {}", rcode.as_deref().unwrap_or("unknown"))
            }
            ErrorCode::HttpResponseTransferCoding(Some(c)) => {
                write!(f, "HTTP-response-transfer-coding: {c}")
            }
            other => f.write_str(other.case()),
        }
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        for e in [
            ErrorCode::ConnectionRefused,
            ErrorCode::InternalError(Some("x".into())),
            ErrorCode::InternalError(None),
            ErrorCode::HttpResponseTransferCoding(Some("gzip".into())),
        ] {
            assert_eq!(ErrorCode::from_val(&e.to_val()).unwrap(), e);
        }
        assert!(ErrorCode::from_val(&Val::U8(1)).is_err());
    }
}
