//! The notification channels' far ends on loopback: a Slack incoming webhook and an SMTP relay,
//! each recording what it received. The same receivers as xtask-notify's channel tests, on
//! threads instead of tokio: this crate builds no async runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::NOTIFY_EMAIL;

/// One POST to the webhook: its path and body.
#[derive(Clone, Debug)]
pub struct Post {
    pub path: String,
    pub body: String,
}

/// One message as the relay received it.
#[derive(Clone, Debug, Default)]
pub struct Mail {
    pub to: Vec<String>,
    pub data: String,
}

pub struct Receivers {
    slack_port: u16,
    smtp_port: u16,
    /// The relay's password, made up per run (the notifier logs in before sending).
    smtp_password: String,
    posts: Arc<Mutex<Vec<Post>>>,
    mails: Arc<Mutex<Vec<Mail>>>,
}

/// The webhook's path, where the message must arrive (Slack's carries the token).
const WEBHOOK_PATH: &str = "/services/scenario/webhook";

impl Receivers {
    pub fn start() -> Receivers {
        let posts = Arc::new(Mutex::new(Vec::new()));
        let mails = Arc::new(Mutex::new(Vec::new()));
        let slack = TcpListener::bind("127.0.0.1:0").unwrap();
        let smtp = TcpListener::bind("127.0.0.1:0").unwrap();
        let receivers = Receivers {
            slack_port: slack.local_addr().unwrap().port(),
            smtp_port: smtp.local_addr().unwrap().port(),
            smtp_password: format!("scenario-{}", std::process::id()),
            posts: posts.clone(),
            mails: mails.clone(),
        };
        // The listeners live as long as the test process; each connection on its own thread.
        std::thread::spawn(move || {
            for stream in slack.incoming().flatten() {
                let posts = posts.clone();
                std::thread::spawn(move || {
                    let _ = webhook(stream, &posts);
                });
            }
        });
        std::thread::spawn(move || {
            for stream in smtp.incoming().flatten() {
                let mails = mails.clone();
                std::thread::spawn(move || {
                    let _ = relay(stream, &mails);
                });
            }
        });
        receivers
    }

    pub fn slack_url(&self) -> String {
        format!("http://127.0.0.1:{}{WEBHOOK_PATH}", self.slack_port)
    }

    pub fn smtp_url(&self) -> String {
        let password = &self.smtp_password;
        format!("smtp://ops:{password}@127.0.0.1:{}", self.smtp_port)
    }

    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Exactly one Slack message and one email, both naming `title` and `result`.
    #[track_caller]
    pub fn assert_notified_once(&self, title: &str, result: &str) {
        let posts = self.posts();
        assert_eq!(posts.len(), 1, "one Slack message: {posts:#?}");
        assert_eq!(posts[0].path, WEBHOOK_PATH);
        let text = &posts[0].body;
        assert!(
            text.contains(title) && text.contains(&format!("({result})")),
            "the Slack message names `{title}` ({result}): {text}"
        );
        let mails = self.mails();
        assert_eq!(mails.len(), 1, "one email: {mails:#?}");
        assert_eq!(mails[0].to, [format!("<{NOTIFY_EMAIL}>")]);
        let data = &mails[0].data;
        assert!(
            data.contains(&format!("Subject: {title}")) || data.contains(title),
            "the email names `{title}`: {data}"
        );
        assert!(data.contains(result), "the email says {result}: {data}");
    }

    #[track_caller]
    pub fn assert_silent(&self) {
        assert!(self.posts().is_empty(), "Slack got {:#?}", self.posts());
        assert!(self.mails().is_empty(), "email got {:#?}", self.mails());
    }
}

/// Reads one HTTP request, records it, answers `200 ok` as Slack does.
fn webhook(stream: TcpStream, posts: &Mutex<Vec<Post>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    posts.lock().unwrap().push(Post {
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut stream = stream;
    stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
}

/// Speaks just enough SMTP to accept one message per MAIL FROM, any credentials.
fn relay(stream: TcpStream, mails: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    let mut write = stream.try_clone()?;
    let mut lines = BufReader::new(stream).lines();
    write.write_all(b"220 sink.test ESMTP\r\n")?;
    let mut mail = Mail::default();
    while let Some(line) = lines.next().transpose()? {
        let command = line.to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") {
            b"250-sink.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
        } else if command.starts_with("AUTH PLAIN") {
            b"235 2.7.0 accepted\r\n"
        } else if command.starts_with("MAIL FROM:") {
            b"250 2.1.0 ok\r\n"
        } else if command.starts_with("RCPT TO:") {
            mail.to.push(line[8..].trim().to_owned());
            b"250 2.1.5 ok\r\n"
        } else if command == "DATA" {
            write.write_all(b"354 go ahead\r\n")?;
            while let Some(data) = lines.next().transpose()? {
                if data == "." {
                    break;
                }
                mail.data.push_str(&data);
                mail.data.push('\n');
            }
            mails.lock().unwrap().push(std::mem::take(&mut mail));
            b"250 2.0.0 queued\r\n"
        } else if command == "QUIT" {
            return write.write_all(b"221 2.0.0 bye\r\n");
        } else {
            b"250 ok\r\n"
        };
        write.write_all(reply)?;
    }
    Ok(())
}
