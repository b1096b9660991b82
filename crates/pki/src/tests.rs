use std::sync::Arc;

use super::*;

#[test]
fn issues_certificates_that_chain_to_the_ca() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let ca = Ca::generate("Test CA").unwrap();
    let server = ca
        .issue_server("receiver", &["localhost", "127.0.0.1"])
        .unwrap();
    let client = ca.issue_client("proxy").unwrap();
    tls::server_config(&server, Some(ca.cert_pem()), tls::ClientAuth::Required).unwrap();
    tls::client_config(ca.cert_pem(), Some(&client)).unwrap();
    // A CA reloaded from its PEM files issues certificates too.
    let reloaded = Ca::load(ca.identity().clone(), "Test CA").unwrap();
    let later = reloaded.issue_server("registry", &["localhost"]).unwrap();
    // ...and a client trusting the original CA accepts them: proven by a real handshake.
    handshake(&ca, &later, Some(&client)).unwrap();
    let stranger = Ca::generate("Other CA")
        .unwrap()
        .issue_client("intruder")
        .unwrap();
    assert!(
        handshake(&ca, &later, Some(&stranger)).is_err(),
        "a client certificate from another CA is refused"
    );
    assert!(
        handshake(&ca, &later, None).is_err(),
        "no client certificate is refused when required"
    );
}

#[test]
fn signing_keys_round_trip_through_files() {
    let dir = tempfile::tempdir().unwrap();
    for alg in [Algorithm::RS512, Algorithm::ES256] {
        let key = SigningKey::generate(alg, "kid-1").unwrap();
        assert_eq!(key.public_jwk["alg"], alg.as_str());
        key.write(dir.path(), alg.as_str()).unwrap();
        assert_eq!(SigningKey::read(dir.path(), alg.as_str()).unwrap(), key);
    }
    let rsa = SigningKey::generate(Algorithm::RS512, "k").unwrap();
    assert_eq!(rsa.public_jwk["e"], "AQAB", "65537");
    assert!(
        rsa.public_jwk["n"].as_str().unwrap().len() > 300,
        "a 2048-bit modulus"
    );
}

#[test]
fn bad_pem_is_an_error_not_a_panic() {
    let bad = Identity {
        cert_pem: "nope".into(),
        key_pem: "nope".into(),
    };
    assert!(tls::server_config(&bad, None, tls::ClientAuth::None).is_err());
    assert!(tls::client_config("nope", None).is_err());
    assert!(Ca::load(bad, "x").is_err());
}

/// Runs a TLS handshake in memory between a client and a server requiring client certificates.
fn handshake(ca: &Ca, server: &Identity, client: Option<&Identity>) -> Result<(), rustls::Error> {
    use rustls::pki_types::ServerName;
    let server_config =
        tls::server_config(server, Some(ca.cert_pem()), tls::ClientAuth::Required).unwrap();
    let client_config = Arc::new(tls::client_config(ca.cert_pem(), client).unwrap());
    let mut c =
        rustls::ClientConnection::new(client_config, ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut s = rustls::ServerConnection::new(server_config).unwrap();
    for _ in 0..10 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).unwrap();
        }
        s.process_new_packets()?;
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).unwrap();
        }
        c.process_new_packets()?;
        if !c.is_handshaking() && !s.is_handshaking() {
            // TLS 1.3 client auth is judged after the client's Finished: flush once more.
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                s.read_tls(&mut rd).unwrap();
            }
            s.process_new_packets()?;
            return Ok(());
        }
    }
    Err(rustls::Error::General("handshake did not finish".into()))
}
