//! What `exec` does in a hollow container. Hollow containers run no
//! processes, so an exec is interpreted by this tiny *hollow shell*: a few
//! builtins, enough for tests and demos of `kubectl exec` / `skiff exec`
//! to see stdin, stdout, stderr and exit codes travel. It is part of the
//! sanctioned fake, nothing more:
//!
//! | command | does |
//! |---|---|
//! | `echo ARGS...` | prints ARGS |
//! | `cat` | copies stdin to stdout until stdin ends |
//! | `hostname` | prints the pod's name |
//! | `true`, `false` | exit 0, exit 1 |
//! | `exit N` | ends the script with code N |
//! | `sleep SECONDS` | waits (at most an hour) |
//! | `sh -c SCRIPT` (also `bash`, `/bin/sh`, `/bin/bash`) | runs SCRIPT: builtins separated by `;`, `&&` or newlines, `'`/`"` quoting, `>&2` sends a command's output to stderr |
//!
//! Anything else fails with exit code 127 and a message on stderr saying
//! that this is a hollow container.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One command of a script and how it joins the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    /// Run only if the previous command succeeded (`&&`).
    only_after_success: bool,
    argv: Vec<String>,
    to_stderr: bool,
}

/// The steps `command` stands for: itself, or its `sh -c` script.
fn steps(command: &[String]) -> Result<Vec<Step>, String> {
    let shells = ["sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/bash"];
    match command {
        [shell, flag, script, ..] if shells.contains(&shell.as_str()) && flag == "-c" => {
            parse_script(script)
        }
        _ => Ok(vec![Step {
            only_after_success: false,
            argv: command.to_vec(),
            to_stderr: false,
        }]),
    }
}

/// Splits a script into steps: words with quotes removed, `;`, `&&` and
/// newlines between commands, `>&2` (or `1>&2`) as a word of its own.
fn parse_script(script: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut step = Step {
        only_after_success: false,
        argv: Vec::new(),
        to_stderr: false,
    };
    for token in tokens(script)? {
        match token {
            Token::Word(w, quoted) if !quoted && (w == ">&2" || w == "1>&2") => {
                step.to_stderr = true;
            }
            Token::Word(w, quoted) if !quoted && w.contains(['<', '>', '|']) => {
                return Err(format!(
                    "only >&2 redirects and no pipes are supported: {script:?}"
                ));
            }
            Token::Word(w, _) => step.argv.push(w),
            Token::Then | Token::AndThen => {
                let next = Step {
                    only_after_success: token == Token::AndThen,
                    argv: Vec::new(),
                    to_stderr: false,
                };
                let done = std::mem::replace(&mut step, next);
                if !done.argv.is_empty() {
                    steps.push(done);
                }
            }
        }
    }
    if !step.argv.is_empty() {
        steps.push(step);
    }
    Ok(steps)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A word, and whether any of it was quoted.
    Word(String, bool),
    /// `;` or a newline.
    Then,
    /// `&&`.
    AndThen,
}

fn tokens(script: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut word: Option<(String, bool)> = None;
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        let separator = match c {
            ' ' | '\t' => None,
            ';' | '\n' => Some(Token::Then),
            '&' if chars.peek() == Some(&'&') => {
                chars.next();
                Some(Token::AndThen)
            }
            '&' if word.as_ref().is_some_and(|(w, _)| w.ends_with('>')) => {
                if let Some((w, _)) = word.as_mut() {
                    w.push('&');
                }
                continue;
            }
            '&' => return Err(format!("background jobs (&) are not supported: {script:?}")),
            '\'' | '"' => {
                let (w, quoted) = word.get_or_insert_with(|| (String::new(), false));
                *quoted = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(other) => w.push(other),
                        None => return Err(format!("unterminated {c} quote in {script:?}")),
                    }
                }
                continue;
            }
            other => {
                word.get_or_insert_with(|| (String::new(), false))
                    .0
                    .push(other);
                continue;
            }
        };
        if let Some((w, quoted)) = word.take() {
            out.push(Token::Word(w, quoted));
        }
        out.extend(separator);
    }
    if let Some((w, quoted)) = word.take() {
        out.push(Token::Word(w, quoted));
    }
    Ok(out)
}

/// Where the hollow shell writes.
pub struct Outputs<W> {
    pub stdout: W,
    /// `None` with a tty: stderr goes to the terminal (stdout).
    pub stderr: Option<W>,
}

impl<W: AsyncWrite + Unpin> Outputs<W> {
    /// On a terminal (no separate stderr).
    fn tty(&self) -> bool {
        self.stderr.is_none()
    }

    async fn write(&mut self, to_stderr: bool, text: &[u8]) {
        // A terminal turns "\n" into "\r\n" (the client's is in raw mode).
        let text = if self.tty() {
            std::borrow::Cow::Owned(
                text.iter()
                    .flat_map(|&b| {
                        if b == b'\n' {
                            vec![b'\r', b'\n']
                        } else {
                            vec![b]
                        }
                    })
                    .collect(),
            )
        } else {
            std::borrow::Cow::Borrowed(text)
        };
        let w = match (&mut self.stderr, to_stderr) {
            (Some(e), true) => e,
            _ => &mut self.stdout,
        };
        // The reader went away: the output is lost, as a real process's would be.
        let _ = w.write_all(&text).await;
    }
}

/// What a terminal's line discipline makes of typed input: Enter is a
/// newline, ^D ends the input, ^C interrupts.
enum Typed {
    Data(Vec<u8>),
    /// The data before a ^D.
    End(Vec<u8>),
    /// The data before a ^C.
    Interrupt(Vec<u8>),
}

fn line_discipline(input: &[u8]) -> Typed {
    let mut data = Vec::with_capacity(input.len());
    for &b in input {
        match b {
            0x04 => return Typed::End(data),
            0x03 => return Typed::Interrupt(data),
            b'\r' => data.push(b'\n'),
            b => data.push(b),
        }
    }
    Typed::Data(data)
}

/// Runs `command` as the hollow shell does; returns its exit code.
pub async fn run<R, W>(
    command: &[String],
    hostname: &str,
    mut stdin: Option<R>,
    out: &mut Outputs<W>,
) -> i32
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let steps = match steps(command) {
        Ok(s) => s,
        Err(e) => {
            out.write(true, format!("hollow sh: {e}\n").as_bytes())
                .await;
            return 2;
        }
    };
    let mut code = 0;
    for step in steps {
        if step.only_after_success && code != 0 {
            continue;
        }
        let argv: Vec<&str> = step.argv.iter().map(String::as_str).collect();
        code = match argv.as_slice() {
            ["echo", rest @ ..] => {
                let (newline, words) = match rest {
                    ["-n", words @ ..] => (false, words),
                    words => (true, words),
                };
                let mut text = words.join(" ");
                if newline {
                    text.push('\n');
                }
                out.write(step.to_stderr, text.as_bytes()).await;
                0
            }
            ["cat"] => {
                let mut code = 0;
                if let Some(input) = stdin.as_mut() {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = input.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if !out.tty() {
                            out.write(step.to_stderr, &buf[..n]).await;
                            continue;
                        }
                        match line_discipline(&buf[..n]) {
                            Typed::Data(d) => out.write(false, &d).await,
                            Typed::End(d) => {
                                out.write(false, &d).await;
                                break;
                            }
                            Typed::Interrupt(d) => {
                                out.write(false, &d).await;
                                code = 130;
                                break;
                            }
                        }
                    }
                }
                code
            }
            ["hostname"] => {
                out.write(step.to_stderr, format!("{hostname}\n").as_bytes())
                    .await;
                0
            }
            ["true"] => 0,
            ["false"] => 1,
            ["exit"] => return code,
            ["exit", n] => match n.parse::<i32>() {
                Ok(n) => return n & 0xff,
                Err(_) => {
                    out.write(
                        true,
                        format!("hollow sh: exit: {n}: numeric argument required\n").as_bytes(),
                    )
                    .await;
                    return 2;
                }
            },
            ["sleep", s] => match s.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0) {
                Some(seconds) => {
                    tokio::time::sleep(Duration::from_secs_f64(seconds.min(3600.0))).await;
                    0
                }
                None => {
                    out.write(
                        true,
                        format!("hollow sh: sleep: invalid time interval {s:?}\n").as_bytes(),
                    )
                    .await;
                    1
                }
            },
            [name, ..] => {
                let message = format!(
                    "hollow exec: {name}: command not found (a hollow container runs no processes; \
                     builtins: echo, cat, hostname, true, false, exit, sleep, sh -c)\n"
                );
                out.write(true, message.as_bytes()).await;
                127
            }
            [] => 0,
        };
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    async fn exec(command: &[&str], stdin: &[u8], tty: bool) -> (i32, String, String) {
        let mut out = Outputs {
            stdout: Vec::new(),
            stderr: (!tty).then(Vec::new),
        };
        let code = run(&argv(command), "pod-1", Some(stdin), &mut out).await;
        (
            code,
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr.unwrap_or_default()).unwrap(),
        )
    }

    #[test]
    fn scripts_split_into_steps() {
        let s = parse_script("echo 'a  b' \"c\";false && echo no\necho err >&2 ; exit 3").unwrap();
        let words: Vec<_> = s.iter().map(|s| s.argv.join("|")).collect();
        assert_eq!(
            words,
            ["echo|a  b|c", "false", "echo|no", "echo|err", "exit|3"]
        );
        assert!(s[2].only_after_success && !s[1].only_after_success);
        assert!(s[3].to_stderr && !s[0].to_stderr);
        let s = parse_script("echo 1>&2 x '>&2'").unwrap();
        assert_eq!(
            (s[0].argv.clone(), s[0].to_stderr),
            (argv(&["echo", "x", ">&2"]), true)
        );
        assert_eq!(parse_script("echo 12").unwrap()[0].argv, ["echo", "12"]);
        assert!(parse_script("echo 'open").unwrap_err().contains("quote"));
        assert!(
            parse_script("sleep 1 &")
                .unwrap_err()
                .contains("background")
        );
        assert!(parse_script("echo > file").unwrap_err().contains(">&2"));
        assert!(parse_script("echo x | cat").unwrap_err().contains("pipes"));
    }

    #[tokio::test]
    async fn builtins_write_where_they_should() {
        assert_eq!(
            exec(&["echo", "hi", "there"], b"", false).await,
            (0, "hi there\n".into(), String::new())
        );
        assert_eq!(
            exec(&["cat"], b"in\nput", false).await,
            (0, "in\nput".into(), String::new())
        );
        assert_eq!(exec(&["hostname"], b"", false).await.1, "pod-1\n");
        let (code, out, err) = exec(
            &[
                "sh",
                "-c",
                "echo out; echo err >&2; false && echo skipped; exit 3",
            ],
            b"",
            false,
        )
        .await;
        assert_eq!((code, out.as_str(), err.as_str()), (3, "out\n", "err\n"));
        // A terminal has one output.
        let (_, out, err) = exec(&["sh", "-c", "echo out; echo err >&2"], b"", true).await;
        assert_eq!((out.as_str(), err.as_str()), ("out\r\nerr\r\n", ""));
        // Typed input: Enter is a newline, ^D ends it, ^C interrupts.
        assert_eq!(
            exec(&["cat"], b"ab\rcd\x04ignored", true).await,
            (0, "ab\r\ncd".into(), String::new())
        );
        assert_eq!(exec(&["cat"], b"x\x03", true).await.0, 130);
        assert_eq!(exec(&["false"], b"", false).await.0, 1);
        assert_eq!(exec(&["sh", "-c", "exit 300"], b"", false).await.0, 44);
    }

    #[tokio::test]
    async fn other_commands_say_the_container_is_hollow() {
        let (code, out, err) = exec(&["ls", "/"], b"", false).await;
        assert_eq!((code, out.as_str()), (127, ""));
        assert!(
            err.contains("ls: command not found") && err.contains("hollow"),
            "{err}"
        );
        let (code, _, err) = exec(&["sh", "-c", "echo 'x"], b"", false).await;
        assert_eq!(code, 2);
        assert!(err.contains("quote"));
    }
}
