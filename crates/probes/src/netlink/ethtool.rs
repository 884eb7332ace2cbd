//! The few ethtool facts Skydive shows (`Driver`, `BusInfo`, `Speed`), read with the
//! `SIOCETHTOOL` ioctl on a datagram socket.
//!
//! The socket must be opened inside the namespace of the interfaces it asks about (the kernel
//! resolves the name in the socket's namespace), so [`Ethtool::open`] runs on the namespace
//! thread; `/sys/class/net` would not do, as it shows the namespace that mounted sysfs.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GSET: u32 = 0x1;
const ETHTOOL_GDRVINFO: u32 = 0x3;
const SPEED_UNKNOWN: u32 = u32::MAX;
const IFNAMSIZ: usize = 16;

/// `struct ethtool_drvinfo` (linux/ethtool.h).
#[repr(C)]
struct DrvInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// `struct ethtool_cmd` (linux/ethtool.h, the legacy `ETHTOOL_GSET` layout).
#[repr(C)]
struct Cmd {
    cmd: u32,
    supported: u32,
    advertising: u32,
    speed: u16,
    duplex: u8,
    port: u8,
    phy_address: u8,
    transceiver: u8,
    autoneg: u8,
    mdio_support: u8,
    maxtxpkt: u32,
    maxrxpkt: u32,
    speed_hi: u16,
    eth_tp_mdix: u8,
    eth_tp_mdix_ctrl: u8,
    lp_advertising: u32,
    reserved: [u32; 2],
}

/// `struct ifreq` with the `ifr_data` member of its union (padded to the union's size).
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    data: *mut libc::c_void,
    pad: [u8; 16],
}

/// What ethtool says about an interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EthtoolInfo {
    pub driver: Option<String>,
    pub bus_info: Option<String>,
    /// Mb/s; `None` when unknown.
    pub speed: Option<u32>,
}

/// An ethtool handle bound to one namespace.
#[derive(Debug)]
pub struct Ethtool {
    fd: OwnedFd,
}

fn c_string(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).into_owned();
    if s.is_empty() { None } else { Some(s) }
}

impl Ethtool {
    /// Opens the ioctl socket in the calling thread's namespace.
    pub fn open() -> io::Result<Self> {
        let fd = socket(
            AddressFamily::Inet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        Ok(Ethtool { fd })
    }

    fn ioctl<T>(&self, name: &str, data: &mut T) -> io::Result<()> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= IFNAMSIZ || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid interface name",
            ));
        }
        let mut req = IfReq {
            name: [0; IFNAMSIZ],
            data: (data as *mut T).cast(),
            pad: [0; 16],
        };
        req.name[..bytes.len()].copy_from_slice(bytes);
        // SAFETY: `req` is a properly laid out `struct ifreq` whose data pointer targets a live,
        // exclusively borrowed ethtool command struct of the type the command number implies;
        // the kernel writes at most `size_of::<T>()` bytes there. The fd is our own socket.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), SIOCETHTOOL as _, &mut req) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Driver, bus info and speed of interface `name`; fields the driver does not provide stay
    /// `None` (many virtual devices answer `EOPNOTSUPP`).
    pub fn info(&self, name: &str) -> EthtoolInfo {
        let mut out = EthtoolInfo::default();
        // SAFETY: DrvInfo is plain old data (integers and byte arrays): all-zero is valid.
        let mut drv: DrvInfo = unsafe { std::mem::zeroed() };
        drv.cmd = ETHTOOL_GDRVINFO;
        if self.ioctl(name, &mut drv).is_ok() {
            out.driver = c_string(&drv.driver);
            out.bus_info = c_string(&drv.bus_info);
        }
        // SAFETY: Cmd is plain old data: all-zero is valid.
        let mut cmd: Cmd = unsafe { std::mem::zeroed() };
        cmd.cmd = ETHTOOL_GSET;
        if self.ioctl(name, &mut cmd).is_ok() {
            let speed = u32::from(cmd.speed) | (u32::from(cmd.speed_hi) << 16);
            if speed != SPEED_UNKNOWN && speed != 0 {
                out.speed = Some(speed);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel_abi() {
        assert_eq!(size_of::<DrvInfo>(), 196);
        assert_eq!(size_of::<Cmd>(), 44);
        assert_eq!(size_of::<IfReq>(), 40);
    }

    #[test]
    fn loopback_has_no_driver_and_bad_names_are_rejected() {
        let e = Ethtool::open().unwrap();
        let lo = e.info("lo");
        assert_eq!(lo.bus_info, None);
        assert_eq!(
            e.info("a-name-far-too-long-for-linux"),
            EthtoolInfo::default()
        );
        assert_eq!(e.info("skt-missing0"), EthtoolInfo::default());
    }
}
