//! The byte stream of one WebSocket, shared by its connection task and by publishers.
//!
//! A publish reaches most subscribers while their queue is empty and their socket idle. Instead of queueing
//! the event and waking the connection's task to write it, the publisher writes the event's WebSocket frame
//! (built once per event by [`websocket_frame`], the same bytes for every subscriber) straight into the
//! socket, without blocking: this socket is the session's [`Sink`]. That saves a task wake-up and a pass through tungstenite per delivery, which left only the
//! `write()` itself: about 70 % of the server's CPU per delivery at one event in flight. Everything else
//! (replies, pings, close frames, and events that found a queue or a busy socket) goes through tungstenite
//! in the connection's task, which writes through [`SocketIo`] into the same stream.
//!
//! Frames never interleave: every write, from either side, happens under one lock and is accepted whole.
//! A frame the kernel takes only part of keeps its tail in a backlog that is written before anything else;
//! a publisher writes only when the backlog is empty and no write is waiting for the socket to drain
//! ([`Sent::NotNow`] otherwise: the event is queued in order and the task writes it).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::bayeux::event::Event;
use crate::bayeux::session::lock;
use crate::bayeux::sink::{Sent, Sink};

/// The most bytes of queued frames written at once: consecutive events go out in one write, as the kernel
/// would have merged them.
const WRITE_BATCH: usize = 64 * 1024;

/// `json` as one unmasked, final WebSocket text frame (a server's frames are not masked), with its length
/// in 7, 16 or 64 bits as RFC 6455 §5.2 requires.
pub(crate) fn websocket_frame(json: &[u8]) -> Box<[u8]> {
    let len = json.len();
    let header = match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    };
    // Exactly the frame's size, so that the boxed slice is this allocation.
    let mut frame = Vec::with_capacity(header + len);
    // FIN and the text opcode.
    frame.push(0x81);
    match len {
        0..=125 => frame.push(len as u8),
        126..=0xFFFF => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(json);
    frame.into_boxed_slice()
}

/// An event's WebSocket frame, built by the first socket that writes it and shared by the others.
fn frame_of(event: &Event) -> &[u8] {
    event.encoded(websocket_frame)
}

/// The upgraded connection, its backlog and its write state.
#[derive(Debug)]
pub(crate) struct SharedSocket {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    io: TokioIo<Upgraded>,
    /// The unwritten tail of a frame the kernel took only part of; written before anything else.
    backlog: Bytes,
    /// A write found the socket full: a task waits for it to drain, so publishers must not write (their
    /// attempt would also replace the task's registered waker).
    blocked: bool,
    /// A write failed: the connection is going away.
    broken: bool,
}

impl SharedSocket {
    pub(crate) fn new(io: Upgraded) -> Arc<Self> {
        let state = State { io: TokioIo::new(io), backlog: Bytes::new(), blocked: false, broken: false };
        Arc::new(Self { state: Mutex::new(state) })
    }
}

impl State {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.backlog.is_empty() {
            match Pin::new(&mut self.io).poll_write(cx, &self.backlog) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(self.fail(io::ErrorKind::WriteZero.into()))),
                Poll::Ready(Ok(n)) => {
                    let _ = self.backlog.split_to(n.min(self.backlog.len()));
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(self.fail(error))),
                Poll::Pending => {
                    self.blocked = true;
                    return Poll::Pending;
                }
            }
        }
        self.blocked = false;
        Poll::Ready(Ok(()))
    }

    /// Drains the backlog, then writes `frame`; what the kernel does not take goes to the backlog, so the
    /// frame is accepted whole (`Ready(Ok(len))`) or not at all (`Pending`).
    fn poll_write_whole(&mut self, cx: &mut Context<'_>, frame: &[u8]) -> Poll<io::Result<usize>> {
        if self.broken {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        std::task::ready!(self.poll_drain(cx))?;
        match Pin::new(&mut self.io).poll_write(cx, frame) {
            Poll::Ready(Ok(0)) if !frame.is_empty() => Poll::Ready(Err(self.fail(io::ErrorKind::WriteZero.into()))),
            Poll::Ready(Ok(n)) => {
                if n < frame.len() {
                    self.backlog = Bytes::copy_from_slice(frame.get(n..).unwrap_or_default());
                }
                Poll::Ready(Ok(frame.len()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(self.fail(error))),
            Poll::Pending => {
                self.blocked = true;
                Poll::Pending
            }
        }
    }

    fn fail(&mut self, error: io::Error) -> io::Error {
        self.broken = true;
        error
    }
}

impl Sink for SharedSocket {
    fn try_send(&self, event: &Event) -> Sent {
        let mut state = lock(&self.state);
        if state.broken || state.blocked || !state.backlog.is_empty() {
            return Sent::NotNow;
        }
        // A no-op waker: if the socket is full, nothing is written and the event is queued for the task,
        // whose own write then registers its waker.
        let mut cx = Context::from_waker(Waker::noop());
        match state.poll_write_whole(&mut cx, frame_of(event)) {
            Poll::Ready(Ok(_)) if state.backlog.is_empty() => Sent::Done,
            Poll::Ready(Ok(_)) => Sent::Partly,
            Poll::Ready(Err(_)) | Poll::Pending => Sent::NotNow,
        }
    }

    fn poll_send(&self, cx: &mut Context<'_>, queue: &VecDeque<Event>) -> Poll<io::Result<usize>> {
        let mut state = lock(&self.state);
        std::task::ready!(state.poll_drain(cx))?;
        let Some(first) = queue.front() else { return Poll::Ready(Ok(0)) };
        if queue.len() == 1 {
            return state.poll_write_whole(cx, frame_of(first)).map_ok(|_| 1);
        }
        let mut batch = frame_of(first).to_vec();
        let mut count = 1;
        for event in queue.iter().skip(1) {
            let frame = frame_of(event);
            if batch.len() + frame.len() > WRITE_BATCH {
                break;
            }
            batch.extend_from_slice(frame);
            count += 1;
        }
        state.poll_write_whole(cx, &batch).map_ok(|_| count)
    }
}

/// The connection's view of the shared socket, for tungstenite: reads as usual, and writes each frame whole
/// through the same lock as publishers.
#[derive(Debug)]
pub(crate) struct SocketIo(pub(crate) Arc<SharedSocket>);

impl AsyncRead for SocketIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut state = lock(&self.0.state);
        Pin::new(&mut state.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for SocketIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        lock(&self.0.state).poll_write_whole(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = lock(&self.0.state);
        std::task::ready!(state.poll_drain(cx))?;
        Pin::new(&mut state.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = lock(&self.0.state);
        std::task::ready!(state.poll_drain(cx))?;
        Pin::new(&mut state.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event's WebSocket frame is an unmasked, final text frame whose payload is exactly the JSON frame,
    /// with the length in 7, 16 or 64 bits as RFC 6455 §5.2 requires.
    #[test]
    fn frames_carry_the_json_with_its_length() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let json = vec![b'x'; len];
            let frame = websocket_frame(&json);
            assert_eq!(frame.len(), header + len, "a payload of {len} bytes");
            assert_eq!(frame[0], 0x81, "FIN and text");
            let declared = match header {
                2 => u64::from(frame[1]),
                4 => {
                    assert_eq!(frame[1], 126);
                    u64::from(u16::from_be_bytes([frame[2], frame[3]]))
                }
                _ => {
                    assert_eq!(frame[1], 127);
                    u64::from_be_bytes(frame[2..10].try_into().unwrap_or_default())
                }
            };
            assert_eq!(declared, len as u64);
            assert_eq!(&frame[header..], &json[..]);
        }
    }
}
