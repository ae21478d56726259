//! The check every newly issued certificate passes before a command reports
//! success: issued by our CA (name and signature), valid now, and carrying
//! exactly the extended key usage its kind needs. It catches a CA key that
//! does not match `ca.pem` and any mistake in how certificates are built.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::index::Kind;
use super::PkiError;

/// Verifies `leaf_der` (of `kind`, a server or client) against `ca_der`.
pub fn check_issued(leaf_der: &[u8], ca_der: &[u8], kind: Kind) -> Result<(), PkiError> {
    let what = kind.as_str();
    let fail = |reason: String| PkiError::Verify {
        what: what.to_owned(),
        reason,
    };
    let leaf = parse(leaf_der).map_err(fail)?;
    let ca = parse(ca_der).map_err(fail)?;
    if leaf.issuer().as_raw() != ca.subject().as_raw() {
        return Err(fail("its issuer is not the CA's subject".into()));
    }
    leaf.verify_signature(Some(ca.public_key())).map_err(|e| {
        fail(format!(
            "bad signature ({e}); does ca-key.pem belong to ca.pem?"
        ))
    })?;
    if !leaf.validity().is_valid() {
        return Err(fail("it is not valid now".into()));
    }
    if leaf.is_ca() {
        return Err(fail("it is marked as a CA".into()));
    }
    let eku = leaf
        .extended_key_usage()
        .map_err(|e| fail(format!("unreadable extended key usage ({e})")))?
        .ok_or_else(|| fail("no extended key usage".into()))?
        .value;
    let (server, client) = (eku.server_auth, eku.client_auth);
    let ok = !eku.any
        && eku.other.is_empty()
        && match kind {
            Kind::Server => server && !client,
            Kind::Client => client && !server,
            Kind::Ca => false,
        };
    if !ok {
        return Err(fail(format!(
            "wrong extended key usage (serverAuth={server}, clientAuth={client})"
        )));
    }
    Ok(())
}

/// Verifies a freshly made CA: self-signed, a CA, valid now.
pub fn check_ca(ca_der: &[u8]) -> Result<(), PkiError> {
    let fail = |reason: String| PkiError::Verify {
        what: "CA".into(),
        reason,
    };
    let ca = parse(ca_der).map_err(fail)?;
    ca.verify_signature(None)
        .map_err(|e| fail(format!("bad self-signature ({e})")))?;
    if !ca.is_ca() || !ca.validity().is_valid() {
        return Err(fail("not a CA that is valid now".into()));
    }
    Ok(())
}

/// Verifies a freshly made intermediate: issued by `root_der` (name and
/// signature), a CA, valid now.
pub fn check_intermediate(ca_der: &[u8], root_der: &[u8]) -> Result<(), PkiError> {
    let fail = |reason: String| PkiError::Verify {
        what: "intermediate CA".into(),
        reason,
    };
    let ca = parse(ca_der).map_err(fail)?;
    let root = parse(root_der).map_err(fail)?;
    if ca.issuer().as_raw() != root.subject().as_raw() {
        return Err(fail("its issuer is not the root's subject".into()));
    }
    ca.verify_signature(Some(root.public_key()))
        .map_err(|e| fail(format!("bad signature ({e})")))?;
    if !ca.is_ca() || !ca.validity().is_valid() {
        return Err(fail("not a CA that is valid now".into()));
    }
    Ok(())
}

/// Parses DER, turning the error into a message.
fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| format!("unparsable ({e})"))
}
