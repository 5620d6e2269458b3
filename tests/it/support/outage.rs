//! An API that cannot be reached: an address nothing listens on (connection refused), and a
//! TLS server whose certificate no platform trusts (a self-signed one, kept beside this file).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A loopback address with nothing listening on it: connecting is refused at once. The port
/// was free a moment ago, so a [`super::FakeApi`] can later start on it (the API is back).
pub fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local_addr")
}

/// An HTTPS server on 127.0.0.1 with a self-signed certificate (CN localhost, IP 127.0.0.1):
/// every handshake fails on the client's side. It counts the connections it accepted.
pub struct UntrustedTls {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UntrustedTls {
    pub fn start() -> UntrustedTls {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cert = rustls::pki_types::CertificateDer::from(
            include_bytes!("self-signed-cert.der").to_vec(),
        );
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            include_bytes!("self-signed-key.der").to_vec().into(),
        );
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("the test certificate and key match");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (Arc::clone(&accepted), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        count.fetch_add(1, Ordering::SeqCst);
                        let config = Arc::clone(&config);
                        std::thread::spawn(move || handshake(config, stream));
                    }
                    // Polling keeps the thread stoppable without another wake-up channel.
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        UntrustedTls {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("https://{}/v1", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Serves the handshake until the client gives up on the certificate (it always does).
fn handshake(config: Arc<rustls::ServerConfig>, mut stream: std::net::TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    while conn.is_handshaking() {
        if conn.complete_io(&mut stream).is_err() {
            return;
        }
    }
}

impl Drop for UntrustedTls {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
