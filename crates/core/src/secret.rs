//! Secrets: values that must never be printed, the master key that encrypts them at
//! rest, webhook signing secrets and Standard Webhooks signatures.
//!
//! Promises:
//! - `SecretString` and `MasterKey` never print their contents (`Debug`/`Display`
//!   show a placeholder), so a secret cannot reach a log line by accident.
//! - Stored secrets are sealed with AES-256-GCM under the operator's master key and
//!   a fresh random nonce; a sealed value that was tampered with or sealed under
//!   another key fails to open instead of returning garbage.
//! - A sealed value is bound to what it belongs to ([`Binding`]: the owning
//!   account and the purpose, such as a webhook password): the binding is the
//!   AES-GCM associated data, so a value copied to another account or another
//!   field does not open. The sealed text names its key (`v2:<key id>:…`), so a
//!   value sealed under another key says so, and rotation knows what to redo.
//! - Values of the first format (`v1:…`, no binding) open only through
//!   [`Reseal`], which the start-up migration and key rotation use to re-seal them.
//! - Signatures follow the Standard Webhooks scheme: `v1,` + base64 of
//!   HMAC-SHA256 over `id.timestamp.body`, keyed by the base64 part of `whsec_…`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};

use crate::ids::AccountId;

/// Errors of this module; none of them contains secret material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "the master key must be 32 bytes written as 64 hex digits or as base64 (e.g. `openssl rand -hex 32`)"
    )]
    BadMasterKey,
    #[error(
        "a stored secret could not be decrypted (wrong FLOWHOOK_MASTER_KEY, or the value was altered)"
    )]
    Undecryptable,
    #[error("a signing secret must look like whsec_ followed by base64 of at least 24 bytes")]
    BadSigningSecret,
    #[error(
        "a stored secret was sealed under master key {sealed_with}, not the configured key {configured} (wrong FLOWHOOK_MASTER_KEY, or a rotation that did not finish)"
    )]
    OtherKey {
        sealed_with: String,
        configured: String,
    },
    #[error(
        "a stored secret is in the format before sealed values were bound to their account; `flowhook serve` migrates it at start-up"
    )]
    NotMigrated,
}

/// What a sealed value is for. Part of its [`Binding`], so a value sealed for
/// one purpose does not open as another (a signing secret as a header, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A stored webhook's basic-auth password.
    WebhookPassword,
    /// A credential header of a stored webhook.
    WebhookHeader,
    /// A stored webhook's signing secret (current or previous).
    SigningSecret,
    /// A secret in an account's provider settings.
    ProviderSetting,
    /// A credential written literally into a flow document.
    FlowCredential,
    /// An account's short-link token (`custToken`), kept to show in its settings.
    ShortLinkToken,
    /// A chat bot's token (`linkcreation`).
    BotToken,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::WebhookPassword => "webhook.password",
            Purpose::WebhookHeader => "webhook.header",
            Purpose::SigningSecret => "webhook.signing_secret",
            Purpose::ProviderSetting => "account.provider",
            Purpose::FlowCredential => "flow.credential",
            Purpose::ShortLinkToken => "account.short_token",
            Purpose::BotToken => "bot.token",
        }
    }
}

/// What a sealed value belongs to: the account that owns it and its purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub account: AccountId,
    pub purpose: Purpose,
}

impl Binding {
    pub fn new(account: AccountId, purpose: Purpose) -> Binding {
        Binding { account, purpose }
    }

    /// The associated data: the format, the key id, the account and the purpose.
    fn aad(&self, key_id: &str) -> Vec<u8> {
        format!(
            "flowhook/v2|{key_id}|{}|{}",
            self.account,
            self.purpose.as_str()
        )
        .into_bytes()
    }
}

/// Marks a value sealed with the master key where sealed and plain values share
/// a field (headers, flow documents), so what is sealed says so itself.
pub const SEALED_PREFIX: &str = "sealed:";

/// A string that must not be shown: passwords, tokens, API keys.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }
    /// The secret itself. Call sites are where secrets leave the type; keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// Fills a fresh buffer from the operating system's secure random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SystemRandom reads getrandom(2); it only fails if the kernel has no entropy
    // source at all, in which case no secret could be made safely anyway.
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random source failed");
    buf
}

/// Lower-case hex SHA-256 of `data`; used to store API keys as lookups, not secrets.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

/// The operator's key for secrets at rest (`FLOWHOOK_MASTER_KEY`).
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Accepts 64 hex digits or base64 (standard or URL-safe) of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<MasterKey, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| SecretError::BadMasterKey)?
        } else {
            B64.decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                .map_err(|_| SecretError::BadMasterKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadMasterKey)?;
        Ok(MasterKey(key))
    }

    /// A new random key, written as 64 hex digits.
    pub fn generate_hex() -> String {
        hex::encode(random_bytes::<32>())
    }

    fn aead(&self) -> LessSafeKey {
        // AES_256_GCM takes exactly 32 bytes, which the type guarantees.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("32-byte AES key"))
    }

    /// The key's id: 8 hex digits of SHA-256 over a label and the key. It names
    /// the key in sealed text and messages without revealing anything of it.
    pub fn key_id(&self) -> String {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"flowhook master key id\0");
        ctx.update(&self.0);
        hex::encode(&ctx.finish().as_ref()[..4])
    }

    /// Seals `plaintext` for `binding` as `v2:<key id>:` + base64(nonce ‖
    /// ciphertext ‖ tag).
    pub fn seal(&self, binding: Binding, plaintext: &str) -> String {
        let key_id = self.key_id();
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut in_out = plaintext.as_bytes().to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(binding.aad(&key_id)),
                &mut in_out,
            )
            .expect("AES-GCM sealing of an in-memory buffer");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&in_out);
        format!("v2:{key_id}:{}", B64.encode(out))
    }

    /// Opens a value made by [`MasterKey::seal`] for the same binding.
    pub fn open(&self, binding: Binding, sealed: &str) -> Result<SecretString, SecretError> {
        match Format::of(sealed)? {
            Format::Legacy(_) => Err(SecretError::NotMigrated),
            Format::Bound { key_id, data } => {
                let configured = self.key_id();
                if key_id != configured {
                    return Err(SecretError::OtherKey {
                        sealed_with: key_id.to_owned(),
                        configured,
                    });
                }
                self.decrypt(&data, Aad::from(binding.aad(key_id)))
            }
        }
    }

    fn decrypt<A: AsRef<[u8]>>(
        &self,
        data: &[u8],
        aad: Aad<A>,
    ) -> Result<SecretString, SecretError> {
        if data.len() < NONCE_LEN {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, rest) = data.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Undecryptable)?;
        let mut rest = rest.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, aad, &mut rest)
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain.to_vec())
            .map(SecretString)
            .map_err(|_| SecretError::Undecryptable)
    }
}

/// The two formats of sealed text.
enum Format<'a> {
    /// `v1:` + base64: no binding, no key id (before bindings existed).
    Legacy(Vec<u8>),
    /// `v2:<key id>:` + base64.
    Bound { key_id: &'a str, data: Vec<u8> },
}

impl Format<'_> {
    fn of(sealed: &str) -> Result<Format<'_>, SecretError> {
        let decode = |b: &str| B64.decode(b).map_err(|_| SecretError::Undecryptable);
        if let Some(rest) = sealed.strip_prefix("v2:") {
            let (key_id, data) = rest.split_once(':').ok_or(SecretError::Undecryptable)?;
            return Ok(Format::Bound {
                key_id,
                data: decode(data)?,
            });
        }
        match sealed.strip_prefix("v1:") {
            Some(data) => Ok(Format::Legacy(decode(data)?)),
            None => Err(SecretError::Undecryptable),
        }
    }
}

/// Re-sealing stored values: from `from` (or the unbound first format) to
/// `to`, bound. With `from` = `to` it is the start-up migration of the first
/// format; with two keys it is a rotation. A value already sealed under `to`
/// is left as it is, so running it twice does nothing the second time.
pub struct Reseal<'a> {
    pub from: &'a MasterKey,
    pub to: &'a MasterKey,
}

impl Reseal<'_> {
    /// The new sealed text of `sealed`, or `None` when it is already current.
    pub fn value(&self, binding: Binding, sealed: &str) -> Result<Option<String>, SecretError> {
        let current = self.to.key_id();
        let plain = match Format::of(sealed)? {
            Format::Bound { key_id, .. } if key_id == current => return Ok(None),
            Format::Bound { .. } => self.from.open(binding, sealed)?,
            Format::Legacy(data) => self.from.decrypt(&data, Aad::empty())?,
        };
        Ok(Some(self.to.seal(binding, plain.expose())))
    }
}

#[cfg(test)]
impl MasterKey {
    /// A value of the first format, as `seal` made it before bindings, for
    /// tests of the migration.
    pub(crate) fn seal_first_format(&self, plaintext: &str) -> String {
        let nonce = random_bytes::<NONCE_LEN>();
        let mut in_out = plaintext.as_bytes().to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut in_out,
            )
            .expect("AES-GCM sealing of an in-memory buffer");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        format!("v1:{}", B64.encode(out))
    }
}

impl MasterKey {
    /// A key of its own for `purpose` (say, signing the admin UI's session
    /// cookies): HMAC-SHA256 of a label under this key. Servers sharing the
    /// master key derive the same one; it reveals nothing of the master key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let tag = hmac::sign(&key, format!("flowhook derived key\0{purpose}").as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// A webhook's Standard Webhooks signing secret, `whsec_` + base64 of the key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret {
    text: String,
    key: Vec<u8>,
}

impl SigningSecret {
    /// A new secret of 32 random bytes.
    pub fn generate() -> SigningSecret {
        let key = random_bytes::<32>().to_vec();
        SigningSecret {
            text: format!("whsec_{}", B64.encode(&key)),
            key,
        }
    }

    pub fn parse(text: &str) -> Result<SigningSecret, SecretError> {
        let key = text
            .strip_prefix("whsec_")
            .and_then(|b| B64.decode(b).ok())
            .filter(|k| k.len() >= 24)
            .ok_or(SecretError::BadSigningSecret)?;
        Ok(SigningSecret {
            text: text.to_owned(),
            key,
        })
    }

    /// The `whsec_…` text, for showing to the account owner once and for sealing.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.key);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(msg_id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        format!("v1,{}", B64.encode(ctx.sign().as_ref()))
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::parse(&"ab".repeat(32)).expect("hex key")
    }

    #[test]
    fn master_key_accepts_hex_and_base64_only_of_32_bytes() {
        assert!(MasterKey::parse(&"0f".repeat(32)).is_ok());
        assert!(MasterKey::parse(&B64.encode([7u8; 32])).is_ok());
        assert_eq!(
            MasterKey::parse("short").err(),
            Some(SecretError::BadMasterKey)
        );
        assert!(MasterKey::parse(&B64.encode([7u8; 16])).is_err());
    }

    fn binding() -> Binding {
        Binding::new(AccountId::generate(), Purpose::WebhookPassword)
    }

    #[test]
    fn seal_then_open_round_trips_and_uses_fresh_nonces() {
        let (k, to) = (key(), binding());
        let a = k.seal(to, "hunter2");
        let b = k.seal(to, "hunter2");
        assert_ne!(a, b, "each seal uses a new nonce");
        assert!(!a.contains("hunter2"));
        assert!(a.starts_with(&format!("v2:{}:", k.key_id())), "{a}");
        assert_eq!(k.open(to, &a).expect("opens").expose(), "hunter2");
    }

    #[test]
    fn open_refuses_tampering_and_other_keys() {
        let (k, to) = (key(), binding());
        let sealed = k.seal(to, "secret");
        let other = MasterKey::parse(&"cd".repeat(32)).expect("hex key");
        assert!(matches!(
            other.open(to, &sealed),
            Err(SecretError::OtherKey { .. })
        ));
        let prefix = format!("v2:{}:", k.key_id());
        let mut bytes = B64.decode(&sealed[prefix.len()..]).expect("b64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{prefix}{}", B64.encode(bytes));
        assert_eq!(
            k.open(to, &tampered).err(),
            Some(SecretError::Undecryptable)
        );
        assert_eq!(
            k.open(to, "garbage").err(),
            Some(SecretError::Undecryptable)
        );
        // A key id that was edited to pass as the configured key does not help:
        // the id is part of the associated data.
        let forged = other
            .seal(to, "secret")
            .replacen(&other.key_id(), &k.key_id(), 1);
        assert_eq!(k.open(to, &forged).err(), Some(SecretError::Undecryptable));
    }

    #[test]
    fn a_value_opens_only_for_its_account_and_purpose() {
        let k = key();
        let to = binding();
        let sealed = k.seal(to, "pw");
        let other_account = Binding::new(AccountId::generate(), to.purpose);
        let other_purpose = Binding::new(to.account, Purpose::WebhookHeader);
        assert_eq!(
            k.open(other_account, &sealed).err(),
            Some(SecretError::Undecryptable)
        );
        assert_eq!(
            k.open(other_purpose, &sealed).err(),
            Some(SecretError::Undecryptable)
        );
    }

    #[test]
    fn first_format_values_open_only_to_be_resealed() {
        let (k, to) = (key(), binding());
        let old = k.seal_first_format("pw");
        assert_eq!(k.open(to, &old).err(), Some(SecretError::NotMigrated));
        let migrate = Reseal { from: &k, to: &k };
        let new = migrate.value(to, &old).expect("opens").expect("changed");
        assert_eq!(k.open(to, &new).expect("opens").expose(), "pw");
        assert_eq!(migrate.value(to, &new).expect("current"), None);
    }

    #[test]
    fn rotation_reseals_under_the_new_key_once() {
        let (old, to) = (key(), binding());
        let new = MasterKey::parse(&"cd".repeat(32)).expect("hex key");
        assert_ne!(old.key_id(), new.key_id());
        let rotate = Reseal {
            from: &old,
            to: &new,
        };
        let sealed = old.seal(to, "pw");
        let rotated = rotate.value(to, &sealed).expect("opens").expect("changed");
        assert_eq!(new.open(to, &rotated).expect("opens").expose(), "pw");
        assert!(old.open(to, &rotated).is_err());
        assert_eq!(rotate.value(to, &rotated).expect("current"), None);
        let stranger = MasterKey::parse(&"ef".repeat(32)).expect("hex key");
        assert!(rotate.value(to, &stranger.seal(to, "x")).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = SecretString::new("pw");
        assert_eq!(format!("{s:?}"), "SecretString(***)");
        assert_eq!(format!("{:?}", key()), "MasterKey(***)");
        assert_eq!(
            format!("{:?}", SigningSecret::generate()),
            "SigningSecret(***)"
        );
    }

    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        // The example of the Standard Webhooks specification.
        let secret =
            SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let sig = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn generated_signing_secrets_parse_back() {
        let s = SigningSecret::generate();
        assert!(s.expose().starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(s.expose()).expect("parses"), s);
        assert!(SigningSecret::parse("whsec_short").is_err());
        assert!(SigningSecret::parse("nope").is_err());
    }
}
