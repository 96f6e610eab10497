//! VAPID (RFC 8292): how the application server identifies itself to push services.
//!
//! The browser subscribes with the server's public key as `applicationServerKey`; every
//! push then carries `Authorization: vapid t=<JWT>, k=<public key>`, where the JWT is
//! ES256-signed with the matching private key and says which push service it is for
//! (`aud`), until when (`exp`) and whom to contact about the traffic (`sub`). The push
//! service refuses pushes whose key differs from the subscription's.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::base64url;
use crate::ece;
use crate::error::{Result, WebPushError};
use crate::random::random_secret_key;

/// How long a VAPID token is valid unless configured otherwise: half the allowed maximum,
/// so a push service whose clock runs some hours behind ours still accepts it.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(12 * 60 * 60);
/// RFC 8292 §2: `exp` must not be more than 24 hours after the request.
pub const MAX_VALIDITY: Duration = Duration::from_secs(24 * 60 * 60);

/// The JOSE header of every VAPID token.
const JWT_HEADER: &str = r#"{"typ":"JWT","alg":"ES256"}"#;

/// The application server's VAPID key pair (ECDSA P-256).
///
/// Stored as the base64url of the 32-byte private scalar, the format of `web-push
/// generate-vapid-keys` and most other tools. The private key is zeroed when dropped and
/// never shown by `Debug`.
#[derive(Clone)]
pub struct VapidKey {
    signing_key: SigningKey,
    public_key: String,
}

impl VapidKey {
    /// A fresh random key pair.
    pub fn generate() -> Self {
        Self::from_signing_key(SigningKey::from(random_secret_key()))
    }

    /// The key pair whose private scalar is `private_key` (32 bytes, base64url).
    ///
    /// # Errors
    /// [`WebPushError::InvalidBase64`], or [`WebPushError::InvalidKey`] when it is not 32
    /// bytes or not a valid P-256 scalar.
    pub fn from_base64url(private_key: &str) -> Result<Self> {
        let what = "VAPID private key";
        let scalar = base64url::decode_exact::<32>(private_key, what, "expected 32 bytes")?;
        let signing_key =
            SigningKey::from_bytes(&scalar.into()).map_err(|_| WebPushError::InvalidKey {
                what,
                reason: "not a valid P-256 scalar",
            })?;
        Ok(Self::from_signing_key(signing_key))
    }

    fn from_signing_key(signing_key: SigningKey) -> Self {
        let public_point = signing_key.verifying_key().to_encoded_point(false);
        Self {
            public_key: base64url::encode(public_point.as_bytes()),
            signing_key,
        }
    }

    /// The private scalar as base64url (32 bytes): the form to keep in configuration.
    /// It is a secret; keep it in a secret store, never in logs.
    pub fn to_base64url(&self) -> String {
        base64url::encode(self.signing_key.to_bytes())
    }

    /// The public key as the base64url of its uncompressed 65-byte point: the browser's
    /// `applicationServerKey`, and the `k` of every VAPID header.
    pub fn public_key_base64url(&self) -> &str {
        &self.public_key
    }
}

impl fmt::Debug for VapidKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("VapidKey")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// The claims of a VAPID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VapidClaims {
    /// The push service's origin, `scheme://host[:port]`.
    pub aud: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Whom the push service can contact: a `mailto:` address or an `https:` URL.
    pub sub: String,
}

/// Signs VAPID `Authorization` headers with one key and contact.
#[derive(Debug, Clone)]
pub struct VapidSigner {
    key: VapidKey,
    subject: String,
    validity: Duration,
}

impl VapidSigner {
    /// A signer for `key` naming `subject` (`mailto:…` or `https://…`) as the contact,
    /// with tokens valid for [`DEFAULT_VALIDITY`].
    ///
    /// # Errors
    /// [`WebPushError::InvalidSubject`].
    pub fn new(key: VapidKey, subject: &str) -> Result<Self> {
        if !is_valid_subject(subject) {
            return Err(WebPushError::InvalidSubject {
                subject: subject.to_owned(),
            });
        }
        Ok(Self {
            key,
            subject: subject.to_owned(),
            validity: DEFAULT_VALIDITY,
        })
    }

    /// The same signer with tokens valid for `validity` (more than 0, at most 24 h).
    ///
    /// # Errors
    /// [`WebPushError::InvalidValidity`].
    pub fn with_validity(mut self, validity: Duration) -> Result<Self> {
        if validity.is_zero() || validity > MAX_VALIDITY {
            return Err(WebPushError::InvalidValidity { validity });
        }
        self.validity = validity;
        Ok(self)
    }

    /// The public key browsers subscribe with (see [`VapidKey::public_key_base64url`]).
    pub fn public_key_base64url(&self) -> &str {
        self.key.public_key_base64url()
    }

    /// The contact named in every token.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// How long each token is valid.
    pub fn validity(&self) -> Duration {
        self.validity
    }

    /// The `Authorization` header value for a push to `endpoint`, valid from now.
    ///
    /// # Errors
    /// [`WebPushError::InvalidEndpoint`] unless `endpoint` is an http(s) URL.
    pub fn authorization_header(&self, endpoint: &str) -> Result<String> {
        self.authorization_header_at(endpoint, SystemTime::now())
    }

    /// [`authorization_header`](Self::authorization_header) as if the time were `now`.
    ///
    /// # Errors
    /// [`WebPushError::InvalidEndpoint`] unless `endpoint` is an http(s) URL.
    pub fn authorization_header_at(&self, endpoint: &str, now: SystemTime) -> Result<String> {
        let audience = audience_of(&parse_http_url(endpoint)?);
        Ok(self.header_for_audience(&audience, now))
    }

    /// The header for an already validated push service origin.
    pub(crate) fn header_for_audience(&self, audience: &str, now: SystemTime) -> String {
        let expires_at = unix_seconds(now).saturating_add(self.validity.as_secs());
        // serde_json's `Value` prints without failing, unlike serializing a struct.
        let claims = serde_json::json!({
            "aud": audience,
            "exp": expires_at,
            "sub": self.subject,
        });
        let signing_input = format!(
            "{}.{}",
            base64url::encode(JWT_HEADER),
            base64url::encode(claims.to_string())
        );
        // RFC 6979 deterministic ECDSA: no randomness needed, none can be weak.
        let signature: Signature = self.key.signing_key.sign(signing_input.as_bytes());
        // JWS ES256 signatures are the raw r || s (64 bytes), not DER.
        let token = format!(
            "{signing_input}.{}",
            base64url::encode(signature.to_bytes())
        );
        format!("vapid t={token}, k={}", self.key.public_key)
    }
}

/// What a VAPID header that verified said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedVapid {
    /// The token's claims.
    pub claims: VapidClaims,
    /// The `k` parameter: the application server's public key, base64url. A push service
    /// compares it with the subscription's `applicationServerKey`.
    pub public_key: String,
}

/// Verifies a VAPID `Authorization` header as a push service does for a push to
/// `endpoint` at time `now`: the `vapid` scheme, an ES256 signature by the key in `k`,
/// `aud` equal to the endpoint's origin, `exp` in the future but at most 24 h away, and a
/// `mailto:`/`https:` `sub`.
///
/// For tests that stand in for a push service; production never receives pushes.
///
/// # Errors
/// [`WebPushError::VapidRejected`] saying which check failed.
pub fn verify_vapid_header(
    header_value: &str,
    endpoint: &str,
    now: SystemTime,
) -> Result<VerifiedVapid> {
    let reject = |reason: &str| WebPushError::VapidRejected {
        reason: reason.to_owned(),
    };
    let (scheme, parameters) = header_value
        .trim()
        .split_once(' ')
        .ok_or_else(|| reject("not of the form `vapid t=…, k=…`"))?;
    if !scheme.eq_ignore_ascii_case("vapid") {
        return Err(reject("the authorization scheme is not `vapid`"));
    }
    let mut token = None;
    let mut public_key = None;
    for parameter in parameters.split(',') {
        match parameter.trim().split_once('=') {
            Some(("t", value)) => token = Some(value.trim()),
            Some(("k", value)) => public_key = Some(value.trim()),
            _ => {}
        }
    }
    let token = token.ok_or_else(|| reject("no `t` (token) parameter"))?;
    let public_key = public_key.ok_or_else(|| reject("no `k` (public key) parameter"))?;

    let key_bytes =
        base64url::decode(public_key, "k").map_err(|_| reject("`k` is not base64url"))?;
    let key = ece::parse_public_key(&key_bytes, "k")
        .map_err(|_| reject("`k` is not an uncompressed P-256 public key"))?;
    let verifying_key = VerifyingKey::from(&key);

    let mut parts = token.split('.');
    let (Some(header_part), Some(claims_part), Some(signature_part), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(reject("the token is not a three-part JWS"));
    };
    let jose_header: serde_json::Value = base64url::decode(header_part, "JWT header")
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| reject("the JWT header is not base64url JSON"))?;
    if jose_header.get("alg").and_then(serde_json::Value::as_str) != Some("ES256") {
        return Err(reject("the JWT algorithm is not ES256"));
    }
    let signature = base64url::decode(signature_part, "JWT signature")
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or_else(|| reject("the JWT signature is not a 64-byte r || s"))?;
    let signing_input = &token[..header_part.len() + 1 + claims_part.len()];
    verifying_key
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| reject("the JWT signature does not verify with `k`"))?;

    let claims: VapidClaims = base64url::decode(claims_part, "JWT claims")
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| reject("the JWT claims are not JSON with aud, exp and sub"))?;
    let expected_audience = audience_of(
        &parse_http_url(endpoint).map_err(|_| reject("the endpoint is not an http(s) URL"))?,
    );
    if claims.aud != expected_audience {
        return Err(WebPushError::VapidRejected {
            reason: format!(
                "aud {:?} is not the push service origin {expected_audience:?}",
                claims.aud
            ),
        });
    }
    let now_seconds = unix_seconds(now);
    if claims.exp <= now_seconds {
        return Err(reject("the token has expired"));
    }
    if claims.exp > now_seconds.saturating_add(MAX_VALIDITY.as_secs()) {
        return Err(reject("exp is more than 24 hours ahead"));
    }
    if !is_valid_subject(&claims.sub) {
        return Err(reject("sub is neither a mailto: address nor an https: URL"));
    }
    Ok(VerifiedVapid {
        claims,
        public_key: public_key.to_owned(),
    })
}

/// The VAPID audience of a push endpoint: its origin, `scheme://host[:port]` with the
/// default port left out.
pub(crate) fn audience_of(endpoint: &Url) -> String {
    endpoint.origin().ascii_serialization()
}

/// Parses `endpoint` as an http(s) URL with a host (the only kinds with an origin).
pub(crate) fn parse_http_url(endpoint: &str) -> Result<Url> {
    let url = Url::parse(endpoint).map_err(|error| WebPushError::InvalidEndpoint {
        reason: format!("not a URL ({error})"),
    })?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(WebPushError::InvalidEndpoint {
            reason: "not an http(s) URL with a host".to_owned(),
        });
    }
    Ok(url)
}

/// RFC 8292 §2.1: a `mailto:` URI or an `https:` URI.
fn is_valid_subject(subject: &str) -> bool {
    if let Some(address) = subject.strip_prefix("mailto:") {
        return address.contains('@') && !address.chars().any(char::is_whitespace);
    }
    Url::parse(subject).is_ok_and(|url| url.scheme() == "https" && url.host_str().is_some())
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since_epoch| since_epoch.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encrypt::tests::rfc8291;

    const ENDPOINT: &str = "https://push.example.net:8443/wpush/v2/abc?x=1";
    const ORIGIN: &str = "https://push.example.net:8443";

    fn signer() -> VapidSigner {
        VapidSigner::new(VapidKey::generate(), "mailto:ops@talkapp.example").expect("valid")
    }

    fn token_parts(header: &str) -> Vec<String> {
        let token = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .map(|(token, _)| token.to_owned())
            .expect("vapid t=…, k=…");
        token.split('.').map(str::to_owned).collect()
    }

    fn decoded_json(part: &str) -> serde_json::Value {
        let bytes = base64url::decode(part, "part").expect("base64url");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[test]
    fn a_known_private_key_gives_its_known_public_key() {
        // Any P-256 pair will do; RFC 8291's application server pair is a published one.
        let key = VapidKey::from_base64url(rfc8291::AS_PRIVATE).expect("valid scalar");
        assert_eq!(key.public_key_base64url(), rfc8291::AS_PUBLIC);
        assert_eq!(key.to_base64url(), rfc8291::AS_PRIVATE);
    }

    #[test]
    fn a_generated_key_round_trips_through_base64url() {
        let key = VapidKey::generate();
        let restored = VapidKey::from_base64url(&key.to_base64url()).expect("valid");
        assert_eq!(restored.public_key_base64url(), key.public_key_base64url());
        let public_bytes = base64url::decode(key.public_key_base64url(), "k").expect("b64");
        assert_eq!(public_bytes.len(), 65);
        assert_eq!(public_bytes[0], 0x04);
    }

    #[test]
    fn bad_private_keys_are_refused() {
        assert!(matches!(
            VapidKey::from_base64url("c2hvcnQ"),
            Err(WebPushError::InvalidKey { .. })
        ));
        assert!(matches!(
            VapidKey::from_base64url(&base64url::encode([0xff; 32])),
            Err(WebPushError::InvalidKey {
                reason: "not a valid P-256 scalar",
                ..
            })
        ));
    }

    #[test]
    fn debug_output_shows_only_the_public_key() {
        let key = VapidKey::generate();
        let signer = VapidSigner::new(key.clone(), "mailto:ops@talkapp.example").expect("valid");
        for printed in [format!("{key:?}"), format!("{signer:?}")] {
            assert!(printed.contains(key.public_key_base64url()), "{printed}");
            assert!(!printed.contains(&key.to_base64url()), "{printed}");
        }
    }

    #[test]
    fn the_header_is_a_vapid_es256_jwt_with_aud_exp_and_sub() {
        let signer = signer();
        let now = SystemTime::now();

        let header = signer
            .authorization_header_at(ENDPOINT, now)
            .expect("valid endpoint");

        assert!(header.ends_with(&format!(", k={}", signer.public_key_base64url())));
        let parts = token_parts(&header);
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decoded_json(&parts[0]),
            serde_json::json!({"typ": "JWT", "alg": "ES256"})
        );
        let claims = decoded_json(&parts[1]);
        assert_eq!(claims["aud"], ORIGIN);
        assert_eq!(claims["sub"], "mailto:ops@talkapp.example");
        assert_eq!(
            claims["exp"].as_u64(),
            Some(unix_seconds(now) + 12 * 60 * 60)
        );
        assert_eq!(base64url::decode(&parts[2], "sig").expect("b64").len(), 64);
    }

    #[test]
    fn the_signature_verifies_with_the_public_key() {
        let signer = signer();
        let header = signer.authorization_header(ENDPOINT).expect("valid");
        let parts = token_parts(&header);
        let public_key = base64url::decode(signer.public_key_base64url(), "k").expect("b64");
        let verifying_key = VerifyingKey::from_sec1_bytes(&public_key).expect("point");
        let signature =
            Signature::from_slice(&base64url::decode(&parts[2], "sig").expect("b64")).expect("rs");

        let signing_input = format!("{}.{}", parts[0], parts[1]);

        assert!(
            verifying_key
                .verify(signing_input.as_bytes(), &signature)
                .is_ok()
        );
    }

    #[test]
    fn the_audience_omits_the_default_port_and_the_path() {
        let signer = signer();
        let header = signer
            .authorization_header("https://fcm.googleapis.com:443/fcm/send/xyz")
            .expect("valid");
        let claims = decoded_json(&token_parts(&header)[1]);
        assert_eq!(claims["aud"], "https://fcm.googleapis.com");
    }

    #[test]
    fn verification_accepts_what_the_signer_makes() {
        let signer = signer()
            .with_validity(Duration::from_secs(3600))
            .expect("1 h");
        let now = SystemTime::now();
        let header = signer
            .authorization_header_at(ENDPOINT, now)
            .expect("valid");

        let verified = verify_vapid_header(&header, ENDPOINT, now).expect("verifies");

        assert_eq!(verified.public_key, signer.public_key_base64url());
        assert_eq!(verified.claims.aud, ORIGIN);
        assert_eq!(verified.claims.exp, unix_seconds(now) + 3600);
        assert_eq!(verified.claims.sub, signer.subject());
    }

    fn rejection(header: &str, endpoint: &str, now: SystemTime) -> String {
        match verify_vapid_header(header, endpoint, now) {
            Err(WebPushError::VapidRejected { reason }) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn verification_rejects_another_push_service() {
        let now = SystemTime::now();
        let header = signer()
            .authorization_header_at(ENDPOINT, now)
            .expect("valid");
        let reason = rejection(&header, "https://push.example.net/abc", now);
        assert!(reason.contains("aud"), "{reason}");
    }

    #[test]
    fn verification_rejects_an_expired_token() {
        let signed_at = SystemTime::now();
        let header = signer()
            .authorization_header_at(ENDPOINT, signed_at)
            .expect("valid");
        let later = signed_at + DEFAULT_VALIDITY + Duration::from_secs(1);
        assert!(rejection(&header, ENDPOINT, later).contains("expired"));
    }

    #[test]
    fn verification_rejects_a_token_signed_too_far_ahead() {
        let now = SystemTime::now();
        let header = signer()
            .authorization_header_at(ENDPOINT, now + Duration::from_secs(13 * 3600))
            .expect("valid");
        assert!(rejection(&header, ENDPOINT, now).contains("24 hours"));
    }

    #[test]
    fn verification_rejects_another_key_in_k() {
        let now = SystemTime::now();
        let header = signer()
            .authorization_header_at(ENDPOINT, now)
            .expect("valid");
        let (token, _) = header.split_once(", k=").expect("k");
        let forged = format!("{token}, k={}", VapidKey::generate().public_key_base64url());
        assert!(rejection(&forged, ENDPOINT, now).contains("does not verify"));
    }

    #[test]
    fn verification_rejects_altered_claims() {
        let now = SystemTime::now();
        let header = signer()
            .authorization_header_at(ENDPOINT, now)
            .expect("valid");
        let parts = token_parts(&header);
        let mut claims = decoded_json(&parts[1]);
        claims["sub"] = "mailto:attacker@example.net".into();
        let altered = header.replace(&parts[1], &base64url::encode(claims.to_string()));
        assert!(rejection(&altered, ENDPOINT, now).contains("does not verify"));
    }

    #[test]
    fn verification_rejects_other_schemes_and_missing_parameters() {
        let now = SystemTime::now();
        let header = signer()
            .authorization_header_at(ENDPOINT, now)
            .expect("valid");
        let bearer = header.replacen("vapid", "Bearer", 1);
        assert!(rejection(&bearer, ENDPOINT, now).contains("scheme"));
        let (token_only, _) = header.split_once(", k=").expect("k");
        assert!(rejection(token_only, ENDPOINT, now).contains("`k`"));
    }

    #[test]
    fn subjects_must_be_mailto_or_https() {
        for good in [
            "mailto:ops@talkapp.example",
            "https://talkapp.example/contact",
        ] {
            assert!(
                VapidSigner::new(VapidKey::generate(), good).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "ops@talkapp.example",
            "mailto:",
            "http://talkapp.example",
            "",
        ] {
            assert!(
                matches!(
                    VapidSigner::new(VapidKey::generate(), bad),
                    Err(WebPushError::InvalidSubject { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn validity_must_be_positive_and_at_most_24_hours() {
        assert!(signer().with_validity(MAX_VALIDITY).is_ok());
        for bad in [Duration::ZERO, MAX_VALIDITY + Duration::from_secs(1)] {
            assert!(matches!(
                signer().with_validity(bad),
                Err(WebPushError::InvalidValidity { .. })
            ));
        }
    }

    #[test]
    fn endpoints_without_an_http_origin_are_refused() {
        for bad in ["not a url", "mailto:x@y.z", "file:///tmp/x"] {
            assert!(
                matches!(
                    signer().authorization_header(bad),
                    Err(WebPushError::InvalidEndpoint { .. })
                ),
                "{bad}"
            );
        }
    }
}
