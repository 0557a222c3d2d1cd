//! A client's TLS settings as one rustls `ClientConfig`, used by both of its clients: the direct
//! hyper-util one (through hyper-rustls) and reqwest's (for proxies), so a certificate is judged
//! the same way whichever carries the request. The rules are reqwest's own: `verify=False`
//! accepts any certificate; the system's store is rustls-platform-verifier's; a bundle is the
//! only trust anchors; `check_hostname=False` checks the chain but not the name.

use std::sync::Arc;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How server certificates are checked.
#[derive(Clone)]
pub(crate) enum Verify {
    Off,
    System,
    Bundle(Arc<RootCertStore>),
}

impl Verify {
    /// From `ClientCore`'s arguments: `verify` None (off), "" (the system's roots) or a CA
    /// bundle's path; `ca_der`, certificates given directly (they replace the path).
    pub(crate) fn from_args(verify: Option<&str>, ca_der: Option<Vec<Vec<u8>>>) -> PyResult<Self> {
        let ders = match (verify, ca_der) {
            (None, _) => return Ok(Self::Off),
            (Some(_), Some(ders)) => ders.into_iter().map(CertificateDer::from).collect(),
            (Some(""), None) => return Ok(Self::System),
            (Some(path), None) => load_bundle(path)?,
        };
        let mut roots = RootCertStore::empty();
        for der in ders {
            roots
                .add(der)
                .map_err(|e| PyValueError::new_err(format!("invalid CA certificate: {e}")))?;
        }
        Ok(Self::Bundle(Arc::new(roots)))
    }
}

/// A client certificate chain and its private key.
pub(crate) struct Identity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            certs: self.certs.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// A client certificate and its private key, both PEM (one file holding both, or two files).
pub(crate) fn load_identity(cert: &str, key: Option<&str>) -> PyResult<Identity> {
    let mut text = read(cert)?;
    if let Some(key) = key {
        text.push(b'\n');
        text.extend(read(key)?);
    }
    let invalid = |why: &str| {
        PyValueError::new_err(format!("invalid client certificate or key {cert:?}: {why}"))
    };
    let mut certs = Vec::new();
    let mut keys = Vec::new();
    let mut reader = std::io::Cursor::new(text);
    loop {
        match pem::from_buf(&mut reader) {
            Ok(Some((kind, data))) => match kind {
                SectionKind::Certificate => certs.push(CertificateDer::from(data)),
                SectionKind::PrivateKey => keys.push(PrivateKeyDer::Pkcs8(data.into())),
                SectionKind::RsaPrivateKey => keys.push(PrivateKeyDer::Pkcs1(data.into())),
                SectionKind::EcPrivateKey => keys.push(PrivateKeyDer::Sec1(data.into())),
                _ => {
                    return Err(invalid(
                        "a PEM section that is neither a certificate nor a key",
                    ))
                }
            },
            Ok(None) => break,
            Err(e) => return Err(invalid(&e.to_string())),
        }
    }
    match (keys.pop(), certs.is_empty()) {
        (Some(key), false) => Ok(Identity { certs, key }),
        _ => Err(invalid("private key or certificate not found")),
    }
}

fn read(path: &str) -> PyResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| PyOSError::new_err(format!("could not read {path:?}: {e}")))
}

fn load_bundle(path: &str) -> PyResult<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let text = std::fs::read(path)
        .map_err(|e| PyOSError::new_err(format!("could not read CA bundle {path:?}: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PyValueError::new_err(format!("invalid CA bundle {path:?}: {e}")))?;
    if certs.is_empty() {
        return Err(PyValueError::new_err(format!(
            "no certificate in CA bundle {path:?}"
        )));
    }
    Ok(certs)
}

/// What both clients' rustls configurations are made of. The verifier is built once (the
/// system's store is read then, as reqwest read it once per client) and shared by every fork
/// generation: it holds no lock. Each generation gets a configuration of its own (`config`), so a
/// child never shares the parent's TLS session cache.
#[derive(Clone)]
pub(crate) struct Tls {
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
    identity: Option<Identity>,
    alpn: Vec<Vec<u8>>,
}

impl Tls {
    pub(crate) fn new(
        verify: &Verify,
        check_hostname: bool,
        identity: Option<Identity>,
        http1: bool,
        http2: bool,
    ) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match verify {
            Verify::Off => Arc::new(AcceptAny(provider.clone())),
            Verify::System => Arc::new(
                rustls_platform_verifier::Verifier::new(provider.clone())
                    .map_err(|e| e.to_string())?,
            ),
            Verify::Bundle(roots) => {
                WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?
            }
        };
        let verifier = match verify {
            Verify::Off => verifier,
            _ if check_hostname => verifier,
            _ => Arc::new(IgnoreHostname(verifier)),
        };
        let mut alpn = Vec::new();
        if http2 {
            alpn.push(b"h2".to_vec());
        }
        if http1 {
            alpn.push(b"http/1.1".to_vec());
        }
        let tls = Self {
            provider,
            verifier,
            identity,
            alpn,
        };
        tls.config()?; // a key rustls cannot use fails here, once
        Ok(tls)
    }

    /// A new rustls configuration (TLS 1.2 and 1.3, ring's algorithms), with a session cache of
    /// its own.
    pub(crate) fn config(&self) -> Result<rustls::ClientConfig, String> {
        let builder = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(self.verifier.clone());
        let mut config = match &self.identity {
            Some(id) => builder
                .with_client_auth_cert(id.certs.clone(), id.key.clone_key())
                .map_err(|e| format!("the client certificate or key cannot be used: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        Ok(config)
    }
}

/// `verify=False`: any certificate, any signature.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `check_hostname=False`: the chain is checked as `inner` checks it; a name that does not match
/// is let through.
#[derive(Debug)]
struct IgnoreHostname(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for IgnoreHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            outcome => outcome,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
