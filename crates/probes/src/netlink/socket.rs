//! A `NETLINK_ROUTE` socket driven by tokio: requests and dumps on one socket, multicast
//! notifications on another.
//!
//! Why not `rtnetlink`/`netlink-proto`: their connection forwards notifications through an
//! unbounded channel and shares one socket between dumps and notifications, so a receive-buffer
//! overrun can also swallow dump replies. Here each namespace has two sockets: the
//! notification socket's only queue is the kernel's receive buffer (bounded, sized by
//! `agent.topology.netlink.socket_buffer_bytes`); when it overflows the kernel says `ENOBUFS`,
//! surfaced as [`NlError::Overrun`], and the caller discards what is queued
//! ([`RouteSocket::discard_queued`]) then resynchronises with fresh dumps on the request socket, whose replies are flow-controlled by the kernel and cannot be lost.
//!
//! Sockets are created by [`open`] on the thread that is inside the namespace, then wrapped by
//! [`RouteSocket::new`] in the async context. Every datagram is read whole: its size is peeked
//! first and the reusable buffer grows up to [`MAX_DATAGRAM`].

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN,
    NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use tokio::io::unix::AsyncFd;

/// Multicast groups of the notification socket (`RTNLGRP_*`).
pub const RTNLGRP_LINK: u32 = 1;
pub const RTNLGRP_NEIGH: u32 = 3;
pub const RTNLGRP_IPV4_IFADDR: u32 = 5;
pub const RTNLGRP_IPV4_ROUTE: u32 = 7;
pub const RTNLGRP_IPV6_IFADDR: u32 = 9;
pub const RTNLGRP_IPV6_ROUTE: u32 = 11;

/// The groups a namespace probe listens to.
pub const TOPOLOGY_GROUPS: &[u32] = &[
    RTNLGRP_LINK,
    RTNLGRP_IPV4_IFADDR,
    RTNLGRP_IPV6_IFADDR,
    RTNLGRP_IPV4_ROUTE,
    RTNLGRP_IPV6_ROUTE,
    RTNLGRP_NEIGH,
];

/// Largest datagram accepted; bigger ones are dropped and reported.
pub const MAX_DATAGRAM: usize = 4 << 20;
/// Receive buffer to start with: notifications fit; a larger datagram (a dump's, up to a page
/// or so) grows it for the time of the request. An agent has two sockets per namespace, so
/// with a thousand namespaces a 64 KiB buffer each was 128 MB of the agent's memory.
const INITIAL_BUFFER: usize = 8 << 10;
/// How long a request may wait for its reply.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const NLMSG_HDRLEN: usize = 16;

/// What went wrong on a netlink socket.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    /// The kernel dropped notifications (`ENOBUFS`): the caller must resynchronise.
    #[error("netlink receive buffer overrun (ENOBUFS)")]
    Overrun,
    #[error("netlink i/o: {0}")]
    Io(#[from] io::Error),
    /// The kernel refused a request.
    #[error("kernel refused {what}: {source}")]
    Kernel {
        what: &'static str,
        source: io::Error,
    },
    /// A dump was interrupted by concurrent changes (`NLM_F_DUMP_INTR`): run it again.
    #[error("{0} dump interrupted by concurrent changes")]
    DumpInterrupted(&'static str),
    #[error("no reply to {0} within {REQUEST_TIMEOUT:?}")]
    Timeout(&'static str),
    #[error("netlink datagram of {0} bytes exceeds the {MAX_DATAGRAM}-byte limit")]
    TooLarge(usize),
}

impl NlError {
    /// `ENODEV` and friends: the object asked for does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(self, NlError::Kernel { source, .. }
            if matches!(source.raw_os_error(), Some(libc::ENODEV | libc::ENOENT | libc::ESRCH)))
    }
}

/// Opens a `NETLINK_ROUTE` socket in the calling thread's namespace, subscribed to `groups`,
/// non-blocking. `rcvbuf` sets the receive buffer (forced past `rmem_max` when allowed).
pub fn open(groups: &[u32], rcvbuf: Option<usize>) -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind_auto()?;
    for g in groups {
        s.add_membership(*g)?;
    }
    if let Some(size) = rcvbuf {
        let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
        if set_int_opt(&s, libc::SO_RCVBUFFORCE, size).is_err() {
            s.set_rx_buf_sz(size)?;
        }
    }
    s.set_non_blocking(true)?;
    Ok(s)
}

fn set_int_opt(s: &Socket, opt: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is its size; the fd is owned by `s`.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads one whole datagram without blocking: peeks its size, grows `buf`, reads it.
fn recv_datagram(s: &Socket, buf: &mut Vec<u8>) -> io::Result<usize> {
    let fd = s.as_raw_fd();
    // SAFETY: a null buffer of length 0 is valid for recv(2); with MSG_PEEK|MSG_TRUNC netlink
    // reports the datagram's full size and consumes nothing.
    let want = unsafe {
        libc::recv(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_DONTWAIT,
        )
    };
    if want < 0 {
        return Err(io::Error::last_os_error());
    }
    let want = want as usize;
    if want > buf.len() {
        buf.resize(want.min(MAX_DATAGRAM), 0);
    }
    // SAFETY: `buf` is an initialised, writable region of `buf.len()` bytes that outlives the call.
    let got = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
        )
    };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = got as usize;
    if got > buf.len() {
        return Err(io::Error::other(NlError::TooLarge(got)));
    }
    Ok(got)
}

/// One message of a datagram: its header and the decoded payload, if it decoded.
#[derive(Debug)]
pub struct Frame {
    pub header: NetlinkHeader,
    pub body: FrameBody,
}

#[derive(Debug)]
pub enum FrameBody {
    Message(RouteNetlinkMessage),
    Done,
    /// `NLMSG_ERROR`: 0 is an acknowledgement, otherwise a negative errno.
    Error(i32),
    Overrun,
    /// A message this crate cannot decode (counted, skipped).
    Undecodable,
}

/// Splits a datagram into frames; never panics on malformed input (a bad length ends the walk).
pub fn parse_datagram(data: &[u8], out: &mut Vec<Frame>) -> usize {
    let mut undecodable = 0;
    let mut off = 0;
    while data.len().saturating_sub(off) >= NLMSG_HDRLEN {
        let h = &data[off..off + NLMSG_HDRLEN];
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len < NLMSG_HDRLEN || len > data.len() - off {
            undecodable += 1;
            break;
        }
        let mut header = NetlinkHeader::default();
        header.length = len as u32;
        header.message_type = u16::from_ne_bytes([h[4], h[5]]);
        header.flags = u16::from_ne_bytes([h[6], h[7]]);
        header.sequence_number = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
        header.port_number = u32::from_ne_bytes([h[12], h[13], h[14], h[15]]);
        let payload = &data[off + NLMSG_HDRLEN..off + len];
        let body = match header.message_type {
            NLMSG_DONE => FrameBody::Done,
            NLMSG_OVERRUN => FrameBody::Overrun,
            NLMSG_ERROR => match payload.get(..4) {
                Some(b) => FrameBody::Error(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
                None => FrameBody::Undecodable,
            },
            _ => match RouteNetlinkMessage::deserialize(&header, payload) {
                Ok(m) => FrameBody::Message(m),
                Err(_) => FrameBody::Undecodable,
            },
        };
        if matches!(body, FrameBody::Undecodable) {
            undecodable += 1;
        }
        out.push(Frame { header, body });
        off += (len + 3) & !3;
    }
    undecodable
}

/// An async `NETLINK_ROUTE` socket (see the module docs).
pub struct RouteSocket {
    fd: AsyncFd<Socket>,
    buf: Vec<u8>,
    seq: u32,
    frames: Vec<Frame>,
    /// Messages that could not be decoded, since creation.
    pub undecodable: u64,
    /// Dumps accepted although interrupted by concurrent changes, since creation.
    pub interrupted_dumps: u64,
}

impl RouteSocket {
    /// Wraps a socket from [`open`]; needs a tokio runtime context.
    pub fn new(sock: Socket) -> io::Result<Self> {
        // SAFETY: `Socket` owns its fd (closed on drop, never replaced), so the fd stays open and
        // the same for as long as the AsyncFd owns the socket.
        let fd = unsafe { AsyncFd::register(sock) }.map_err(|e| e.into_parts().1)?;
        Ok(RouteSocket {
            fd,
            buf: vec![0; INITIAL_BUFFER],
            seq: 0,
            frames: Vec::new(),
            undecodable: 0,
            interrupted_dumps: 0,
        })
    }

    async fn recv(&mut self) -> Result<usize, NlError> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| recv_datagram(inner.get_ref(), &mut self.buf)) {
                Ok(Ok(n)) => return Ok(n),
                Ok(Err(e)) => return Err(map_io(e)),
                Err(_would_block) => continue,
            }
        }
    }

    fn try_recv(&mut self) -> Result<Option<usize>, NlError> {
        match recv_datagram(self.fd.get_ref(), &mut self.buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(map_io(e)),
        }
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<u32, NlError> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        // Sending to the kernel does not block on a netlink socket (the request is processed
        // synchronously); a full send buffer is reported as an error, not awaited.
        self.fd
            .get_ref()
            .send_to(&bytes, &SocketAddr::new(0, 0), 0)?;
        Ok(self.seq)
    }

    /// Sends a request and collects its replies: every message of a dump (`dump = true`), or
    /// the single reply of a get. An `NLMSG_ERROR` reply becomes [`NlError::Kernel`].
    pub async fn request(
        &mut self,
        what: &'static str,
        msg: RouteNetlinkMessage,
        dump: bool,
    ) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        match self.exchange(what, msg, dump).await? {
            (_, true) => Err(NlError::DumpInterrupted(what)),
            (out, false) => Ok(out),
        }
    }

    /// Sends a request and collects its replies, with whether the kernel flagged the dump as
    /// interrupted (`NLM_F_DUMP_INTR`).
    async fn exchange(
        &mut self,
        what: &'static str,
        msg: RouteNetlinkMessage,
        dump: bool,
    ) -> Result<(Vec<RouteNetlinkMessage>, bool), NlError> {
        let seq = self.send(msg, if dump { NLM_F_DUMP } else { 0 })?;
        let collect = async {
            let mut out = Vec::new();
            let mut interrupted = false;
            loop {
                let n = self.recv().await?;
                let mut frames = std::mem::take(&mut self.frames);
                frames.clear();
                self.undecodable += parse_datagram(&self.buf[..n], &mut frames) as u64;
                let mut finished = None;
                for f in frames.drain(..) {
                    if f.header.sequence_number != seq {
                        continue; // a late reply to an earlier, abandoned request
                    }
                    interrupted |= f.header.flags & NLM_F_DUMP_INTR != 0;
                    match f.body {
                        FrameBody::Message(m) => {
                            out.push(m);
                            if !dump {
                                finished = Some(Ok(()));
                            }
                        }
                        FrameBody::Done => finished = Some(Ok(())),
                        FrameBody::Error(0) => finished = Some(Ok(())),
                        FrameBody::Error(code) => {
                            finished = Some(Err(NlError::Kernel {
                                what,
                                source: io::Error::from_raw_os_error(-code),
                            }))
                        }
                        FrameBody::Overrun | FrameBody::Undecodable => {}
                    }
                    if finished.is_some() {
                        break;
                    }
                }
                self.frames = frames;
                match finished {
                    Some(Ok(())) => return Ok((out, interrupted)),
                    Some(Err(e)) => return Err(e),
                    None => {}
                }
            }
        };
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, collect).await;
        self.release_buffer();
        answer.map_err(|_| NlError::Timeout(what))?
    }

    /// Gives back what a request's large datagrams made the receive buffer grow to.
    fn release_buffer(&mut self) {
        if self.buf.len() > INITIAL_BUFFER {
            self.buf = vec![0; INITIAL_BUFFER];
        }
    }

    /// A dump. When the kernel flags it as interrupted by concurrent changes, it is run again a
    /// few times, then accepted as is: callers subscribe to notifications before dumping, so
    /// whatever changed meanwhile also arrives as a notification.
    pub async fn dump(
        &mut self,
        what: &'static str,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, NlError> {
        let mut attempt = 0;
        loop {
            let (out, interrupted) = self.exchange(what, msg.clone(), true).await?;
            attempt += 1;
            if !interrupted || attempt >= 3 {
                if interrupted {
                    self.interrupted_dumps += 1;
                }
                return Ok(out);
            }
        }
    }

    /// Discards every queued datagram. After an overrun this must precede the resync dumps: the
    /// kernel reports a new overrun only once the queue has been emptied (it clears its
    /// congestion flag then), and what is discarded is covered by the dumps that follow.
    pub fn discard_queued(&mut self) -> usize {
        let mut n = 0;
        loop {
            match self.try_recv() {
                Ok(Some(_)) | Err(NlError::Overrun | NlError::TooLarge(_)) => n += 1,
                Ok(None) | Err(_) => return n,
            }
        }
    }

    /// Waits for notifications, then drains what is already queued, up to `max_datagrams`.
    /// Returns the decoded notifications with their header flags.
    pub async fn recv_notifications(
        &mut self,
        out: &mut Vec<(u16, RouteNetlinkMessage)>,
        max_datagrams: usize,
    ) -> Result<(), NlError> {
        let mut n = Some(self.recv().await?);
        let mut datagrams = 0;
        while let Some(len) = n {
            let mut frames = std::mem::take(&mut self.frames);
            frames.clear();
            self.undecodable += parse_datagram(&self.buf[..len], &mut frames) as u64;
            let mut overrun = false;
            for f in frames.drain(..) {
                match f.body {
                    FrameBody::Message(m) => out.push((f.header.flags, m)),
                    FrameBody::Overrun => overrun = true,
                    _ => {}
                }
            }
            self.frames = frames;
            if overrun {
                return Err(NlError::Overrun);
            }
            datagrams += 1;
            if datagrams >= max_datagrams {
                break;
            }
            n = self.try_recv()?;
        }
        Ok(())
    }
}

fn map_io(e: io::Error) -> NlError {
    if e.raw_os_error() == Some(libc::ENOBUFS) {
        return NlError::Overrun;
    }
    match e.into_inner() {
        Some(inner) => match inner.downcast::<NlError>() {
            Ok(nl) => *nl,
            Err(other) => NlError::Io(io::Error::other(other)),
        },
        None => NlError::Io(io::Error::other("netlink receive failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::link::LinkMessage;

    fn encode(msg: RouteNetlinkMessage, seq: u32) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.sequence_number = seq;
        let mut p = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        p.finalize();
        let mut b = vec![0; p.buffer_len()];
        p.serialize(&mut b);
        b
    }

    #[test]
    fn datagram_with_two_messages_and_garbage() {
        let mut data = encode(RouteNetlinkMessage::NewLink(LinkMessage::default()), 7);
        data.extend(encode(
            RouteNetlinkMessage::DelLink(LinkMessage::default()),
            8,
        ));
        data.extend([0xff; 20]); // bogus length
        let mut frames = Vec::new();
        let bad = parse_datagram(&data, &mut frames);
        assert_eq!(frames.len(), 2);
        assert_eq!(bad, 1);
        assert_eq!(frames[1].header.sequence_number, 8);
        assert!(matches!(
            frames[0].body,
            FrameBody::Message(RouteNetlinkMessage::NewLink(_))
        ));
    }

    #[test]
    fn truncated_and_empty_inputs_do_not_panic() {
        let data = encode(RouteNetlinkMessage::NewLink(LinkMessage::default()), 1);
        for cut in 0..data.len() {
            let mut frames = Vec::new();
            parse_datagram(&data[..cut], &mut frames);
        }
    }

    #[tokio::test]
    async fn dumps_links_of_this_namespace() {
        let mut s = RouteSocket::new(open(&[], None).unwrap()).unwrap();
        let links = s
            .dump(
                "links",
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
            )
            .await
            .unwrap();
        assert!(
            links
                .iter()
                .any(|m| matches!(m, RouteNetlinkMessage::NewLink(l) if l.header.index == 1)),
            "lo is there"
        );
        let mut get = LinkMessage::default();
        get.header.index = 1;
        let one = s
            .request("link", RouteNetlinkMessage::GetLink(get), false)
            .await
            .unwrap();
        assert_eq!(one.len(), 1);
        let mut missing = LinkMessage::default();
        missing.header.index = 0x7fff_fff0;
        let err = s
            .request("link", RouteNetlinkMessage::GetLink(missing), false)
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }
}
