//! `mailtest sink` under held and hostile connections: 1,000 clients held open while others
//! are served, file handles back to where they were once they go; clients trickling a
//! command, DATA or a BDAT chunk are cut without holding up anyone else.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::sink::Sink;

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Sends one message on a fresh connection; the reply to its end of DATA.
async fn send_one(addr: &str, subject: &str) -> String {
    let mut io = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let script = format!(
        "EHLO t\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n\
         Subject: {subject}\r\n\r\nbody\r\n.\r\nQUIT\r\n"
    );
    io.get_mut().write_all(script.as_bytes()).await.unwrap();
    let mut replies = Vec::new();
    let mut line = String::new();
    while io.read_line(&mut line).await.unwrap() > 0 {
        if line.as_bytes().get(3) == Some(&b' ') {
            replies.push(line.trim_end().to_owned());
        }
        line.clear();
    }
    replies.get(5).cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_held_connections_do_not_keep_others_out() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start_with(dir.path(), &["--max-connections", "1100"]);
    let pid = sink.child.id();
    let before = open_files(pid);
    let mut held = Vec::new();
    for _ in 0..1000 {
        let mut stream = TcpStream::connect(&sink.addr).await.unwrap();
        let mut greeting = [0u8; 3];
        stream.read_exact(&mut greeting).await.unwrap();
        assert_eq!(&greeting, b"220");
        held.push(stream);
    }
    let during = open_files(pid);
    assert!(during >= before + 1000, "{before} then {during}: all held");
    for n in 0..20 {
        let reply = send_one(&sink.addr, &format!("while held {n}")).await;
        assert!(reply.starts_with("250"), "{reply}");
    }
    drop(held);
    // The sessions notice the closed connections and give their handles back.
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_files(pid) > before + 5 {
        assert!(
            Instant::now() < deadline,
            "handles still open: {}",
            open_files(pid)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes `bytes` one at a time, `gap` apart, until the server closes the connection;
/// returns what it said and how long it took from the first byte.
async fn trickle(
    stream: TcpStream,
    prefix: &[u8],
    bytes: &[u8],
    gap: Duration,
) -> (String, Instant) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(prefix).await.unwrap();
    let writer = async {
        for byte in bytes.iter().cycle() {
            if write.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(gap).await;
        }
    };
    let mut said = String::new();
    let reader = async {
        let mut line = String::new();
        while reader.read_line(&mut line).await.unwrap_or(0) > 0 {
            said.push_str(&line);
            line.clear();
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
    (said, Instant::now())
}

#[tokio::test(flavor = "multi_thread")]
async fn trickling_clients_are_cut_and_others_are_served_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start_with(dir.path(), &["--idle-timeout", "5s"]);
    // Before the first connection: the sink's idle clocks all start after this, so no cut
    // can come sooner than the timeout after it, however the tasks are scheduled.
    let start = Instant::now();
    let connect = || TcpStream::connect(sink.addr.clone());
    let envelope = b"EHLO slow\r\nMAIL FROM:<s@example.com>\r\nRCPT TO:<b@example.com>\r\n";
    let data = [envelope.as_slice(), b"DATA\r\n"].concat();
    let bdat = [envelope.as_slice(), b"BDAT 100000 LAST\r\n"].concat();
    let gap = Duration::from_millis(250);
    let command = trickle(
        connect().await.unwrap(),
        b"",
        b"EHLO a-very-long-name.example ",
        gap,
    );
    // One line ending at a time: every line arrives well within the idle timeout.
    let lines = trickle(connect().await.unwrap(), &data, b"\n", gap);
    let chunk = trickle(connect().await.unwrap(), &bdat, b"x", gap);
    let others = async {
        let started = Instant::now();
        for n in 0..20 {
            let reply = send_one(&sink.addr, &format!("meanwhile {n}")).await;
            assert!(reply.starts_with("250"), "{reply}");
        }
        started.elapsed()
    };
    let all = async { tokio::join!(command, lines, chunk, others) };
    let ((command, t1), (lines, t2), (chunk, t3), served) =
        tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("every trickling client is cut within a minute");
    assert!(
        command.ends_with("421 4.4.2 Timeout, closing connection\r\n"),
        "{command}"
    );
    assert!(
        lines.ends_with("421 4.4.2 Data too slow, closing connection\r\n"),
        "{lines}"
    );
    assert!(
        chunk.ends_with("421 4.4.2 Data too slow, closing connection\r\n"),
        "{chunk}"
    );
    let (t1, t2, t3) = (t1 - start, t2 - start, t3 - start);
    // Cut at the timeout (plus the little their bytes earned at 500 bytes/s), not later...
    for cut in [t1, t2, t3] {
        assert!(
            cut >= Duration::from_secs(5) && cut < Duration::from_secs(30),
            "{cut:?}"
        );
    }
    // ...and the other clients did not wait for them.
    assert!(served < t1.min(t2).min(t3), "served in {served:?}");
}
