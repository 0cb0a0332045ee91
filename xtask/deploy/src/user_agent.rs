//! The User-Agent every HTTP client of the engine sends. Production's WAF blocks requests
//! without one (AWSManagedRulesCommonRuleSet's NoUserAgent_HEADER), which would fail the
//! deploy's health checks and smoke tests through the load balancer.

pub const USER_AGENT: &str = concat!("eventflow-deploy/", env!("CARGO_PKG_VERSION"));

/// The User-Agent a request from `client` carries, as a loopback server receives it.
#[cfg(test)]
pub async fn sent_by(client: &reqwest::Client) -> Option<String> {
    use std::io::{BufRead, BufReader, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut agent = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("user-agent")
            {
                agent = Some(value.trim().to_owned());
            }
        }
        let mut stream = stream;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        agent
    });
    let response = client.get(format!("http://{addr}/health")).send().await;
    assert!(response.is_ok(), "{response:?}");
    server.join().unwrap()
}
