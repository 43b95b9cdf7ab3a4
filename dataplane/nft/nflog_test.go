//go:build linux

package nft

import (
	"os"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nfnetlink_log message and attribute types (linux/netfilter/nfnetlink_log.h).
const (
	nfulnlMsgPacket  = 0
	nfulnlMsgConfig  = 1
	nfulaCfgCmd      = 1
	nfulnlCfgCmdBind = 1
	nfulaPrefix      = 10
)

// readNFLog binds to an nflog group in a namespace, as the agent's flow
// logs do, and returns the prefixes of the packets logged to it.
func readNFLog(t *testing.T, ns *os.File, group uint16) <-chan string {
	t.Helper()
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(ns.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: nfulaCfgCmd, Data: []byte{nfulnlCfgCmdBind}}})
	if err != nil {
		t.Fatal(err)
	}
	// struct nfgenmsg: family, version, resource id (the group, big-endian).
	hdr := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, byte(group >> 8), byte(group)}
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_ULOG<<8 | nfulnlMsgConfig), Flags: netlink.Request | netlink.Acknowledge},
		Data:   append(hdr, attrs...),
	})
	if err != nil {
		t.Fatalf("bind nflog group %d: %v", group, err)
	}
	out := make(chan string, 64)
	go func() {
		for {
			msgs, err := c.Receive()
			if err != nil {
				return
			}
			for _, m := range msgs {
				if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_ULOG<<8|nfulnlMsgPacket) || len(m.Data) < 4 {
					continue
				}
				ad, err := netlink.NewAttributeDecoder(m.Data[4:])
				if err != nil {
					continue
				}
				for ad.Next() {
					if ad.Type() == nfulaPrefix {
						select {
						case out <- strings.TrimRight(string(ad.Bytes()), "\x00"):
						default:
						}
					}
				}
			}
		}
	}()
	return out
}
