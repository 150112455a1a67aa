//! Ed25519 keys, key ids, the trusted keyring and `manifest.sig`.
//!
//! Text forms (one line each, so they fit in config files and flags):
//! - public key: `ed25519:<base64 of the 32-byte key>`
//! - signing key file: `warden-signing-key:ed25519:<base64 of the 32-byte seed>`
//! - key id: the first 8 bytes of SHA-256 over the public key, as 16 hex digits.
//!
//! A bundle may carry several signatures (keys rotate by signing with the old
//! and the new key). A bundle is accepted when at least one signature is by a
//! trusted key and checks out, and no signature that names a trusted key fails.
//! Signatures by keys outside the keyring are ignored: they can neither make a
//! bundle valid nor excuse it from needing a valid one.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_PREFIX: &str = "warden-signing-key:ed25519:";

/// A public key Warden may trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: String,
}

impl PublicKey {
    /// Parse `ed25519:<base64>`.
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let text = text.trim();
        let b64 = text
            .strip_prefix(PUBLIC_PREFIX)
            .ok_or_else(|| format!("not a public key: expected \"{PUBLIC_PREFIX}<base64>\""))?;
        let bytes = B64.decode(b64).map_err(|e| format!("public key: bad base64: {e}"))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| "public key: expected 32 bytes".to_string())?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|e| format!("public key: {e}"))?;
        // A weak (small-order) key would accept forged signatures.
        if key.is_weak() {
            return Err("public key: weak (small-order) key refused".into());
        }
        Ok(PublicKey::from_key(key))
    }

    fn from_key(key: VerifyingKey) -> PublicKey {
        let digest = Sha256::digest(key.as_bytes());
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        PublicKey { key, id }
    }

    /// The key id, 16 hex digits.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `ed25519:<base64>`.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", B64.encode(self.key.as_bytes()))
    }
}

/// A signing key. The seed is wiped from memory when dropped.
pub struct SecretKey {
    key: SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public().id())
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, String> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut seed[..]).map_err(|e| format!("random source: {e}"))?;
        Ok(SecretKey { key: SigningKey::from_bytes(&seed) })
    }

    /// Parse the signing key file's text.
    pub fn parse(text: &str) -> Result<SecretKey, String> {
        let b64 = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| format!("not a Warden signing key: expected \"{SECRET_PREFIX}<base64>\""))?;
        let bytes = Zeroizing::new(B64.decode(b64).map_err(|_| "signing key: bad base64".to_string())?);
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.as_slice().try_into().map_err(|_| "signing key: expected 32 bytes".to_string())?);
        Ok(SecretKey { key: SigningKey::from_bytes(&seed) })
    }

    /// The signing key file's text (secret!).
    pub fn to_text(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.key.to_bytes());
        Zeroizing::new(format!("{SECRET_PREFIX}{}\n", B64.encode(&seed[..])))
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey::from_key(self.key.verifying_key())
    }

    /// Sign `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature {
            key_id: self.public().id().to_string(),
            algorithm: "ed25519".into(),
            signature: B64.encode(self.key.sign(msg).to_bytes()),
        }
    }
}

/// One signature in `manifest.sig`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Id of the key that made it.
    pub key_id: String,
    /// Always `ed25519`.
    pub algorithm: String,
    /// The 64-byte signature, base64.
    pub signature: String,
}

/// `manifest.sig`: signatures over the exact bytes of `manifest.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// The signatures, one per key.
    pub signatures: Vec<Signature>,
}

impl SignatureFile {
    /// Add `sig`, replacing an earlier signature by the same key.
    pub fn add(&mut self, sig: Signature) {
        self.signatures.retain(|s| s.key_id != sig.key_id);
        self.signatures.push(sig);
    }
}

/// Why a signature check failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// `manifest.sig` holds no signature at all.
    #[error("missing signature: manifest.sig has no signatures")]
    Empty,
    /// A signature by a trusted key does not match the manifest.
    #[error("bad signature: the signature by trusted key {0} does not match manifest.json")]
    Bad(String),
    /// No signature is by a trusted key.
    #[error("unknown key: signed by {signers}, none of which is trusted (trusted: {trusted})")]
    UnknownKey {
        /// Ids of the keys that signed.
        signers: String,
        /// Ids of the trusted keys.
        trusted: String,
    },
}

/// The keys Warden trusts to sign bundles.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: Vec<PublicKey>,
}

impl Keyring {
    /// A keyring of `keys`.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Keyring {
        let mut ring = Keyring::default();
        for k in keys {
            if !ring.keys.iter().any(|x| x.id == k.id) {
                ring.keys.push(k);
            }
        }
        ring
    }

    /// The trusted keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Check `sigs` over `msg`; the id of the trusted key whose signature
    /// verified. Every signature naming a trusted key must verify.
    pub fn verify(&self, msg: &[u8], sigs: &SignatureFile) -> Result<String, SignatureError> {
        if sigs.signatures.is_empty() {
            return Err(SignatureError::Empty);
        }
        let mut good = None;
        for sig in &sigs.signatures {
            let Some(key) = self.keys.iter().find(|k| k.id == sig.key_id) else { continue };
            let bad = || SignatureError::Bad(sig.key_id.clone());
            if sig.algorithm != "ed25519" {
                return Err(bad());
            }
            let bytes = B64.decode(&sig.signature).map_err(|_| bad())?;
            let bytes: [u8; 64] = bytes.try_into().map_err(|_| bad())?;
            let signature = ed25519_dalek::Signature::from_bytes(&bytes);
            // verify_strict: no malleable or small-order edge cases.
            key.key.verify_strict(msg, &signature).map_err(|_| bad())?;
            good.get_or_insert_with(|| sig.key_id.clone());
        }
        good.ok_or_else(|| SignatureError::UnknownKey {
            signers: join(sigs.signatures.iter().map(|s| s.key_id.as_str())),
            trusted: if self.keys.is_empty() { "none".into() } else { join(self.keys.iter().map(|k| k.id())) },
        })
    }
}

fn join<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    ids.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text() {
        let sk = SecretKey::generate().unwrap();
        let again = SecretKey::parse(&sk.to_text()).unwrap();
        assert_eq!(sk.public(), again.public());
        let pk = PublicKey::parse(&sk.public().to_text()).unwrap();
        assert_eq!(pk.id().len(), 16);
        assert!(PublicKey::parse("ed25519:AAAA").is_err());
        assert!(SecretKey::parse(&pk.to_text()).is_err());
    }

    #[test]
    fn one_trusted_signature_is_needed_and_every_trusted_one_must_hold() {
        let (a, b, c) =
            (SecretKey::generate().unwrap(), SecretKey::generate().unwrap(), SecretKey::generate().unwrap());
        let ring = Keyring::new([a.public(), b.public()]);
        let msg = b"manifest";
        let mut sigs = SignatureFile::default();
        assert_eq!(ring.verify(msg, &sigs), Err(SignatureError::Empty));
        sigs.add(c.sign(msg));
        assert!(matches!(ring.verify(msg, &sigs), Err(SignatureError::UnknownKey { .. })));
        sigs.add(a.sign(msg));
        assert_eq!(ring.verify(msg, &sigs).unwrap(), a.public().id());
        // Rotation: old and new key both sign.
        sigs.add(b.sign(msg));
        assert!(ring.verify(msg, &sigs).is_ok());
        // A trusted key's signature over other bytes spoils the set.
        sigs.add(b.sign(b"other"));
        assert_eq!(ring.verify(msg, &sigs), Err(SignatureError::Bad(b.public().id().into())));
        assert!(Keyring::default().verify(msg, &sigs).is_err());
    }
}
