"""Two py-libp2p hosts on loopback (trio). A, on our store, connects to B and learns it through
identify; A's process exits; a new A process on the same directory knows B's addresses,
protocols and key, and dials B by its peer ID alone, without any discovery."""

import json
import subprocess
import sys

from conftest import run_python

PROTOCOL = "/pstoreds-test/echo/1.0.0"

HOST_B = r"""
import sys, trio
from multiaddr import Multiaddr
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair

PROTOCOL = sys.argv[1]

async def echo(stream):
    data = await stream.read(1024)
    await stream.write(b"echo:" + data)
    await stream.close()

async def main():
    host = new_host(key_pair=create_new_key_pair())
    host.set_stream_handler(PROTOCOL, echo)
    async with host.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        print(host.get_id().to_base58(), flush=True)
        print(str(host.get_addrs()[0]).split("/p2p/")[0], flush=True)
        # Until the test closes our stdin.
        await trio.to_thread.run_sync(sys.stdin.read)

trio.run(main)
"""

HOST_A_FIRST = r"""
import json, sys, trio
from multiaddr import Multiaddr
from libp2p import new_host
from libp2p.crypto.serialization import deserialize_private_key
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
import pstoreds

path, key, b_id, b_addr, protocol = sys.argv[1:]
priv = deserialize_private_key(bytes.fromhex(key))
store = pstoreds.PeerStore(path)
b = ID.from_base58(b_id)

async def main():
    host = new_host(key_pair=KeyPair(priv, priv.get_public_key()), peerstore_opt=store)
    async with host.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        await host.connect(PeerInfo(b, [Multiaddr(b_addr)]))
        # Identify runs in the background after connect; wait for what it stores.
        with trio.fail_after(20):
            while protocol not in store.get_protocols(b):
                await trio.sleep(0.05)
        print(json.dumps({"protocols": store.get_protocols(b)}), flush=True)

trio.run(main)
store.close()
"""

HOST_A_AGAIN = r"""
import json, sys, trio
from multiaddr import Multiaddr
from libp2p import new_host
from libp2p.crypto.serialization import deserialize_private_key
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
import pstoreds

path, key, b_id, protocol = sys.argv[1:]
priv = deserialize_private_key(bytes.fromhex(key))
store = pstoreds.PeerStore(path)
b = ID.from_base58(b_id)
known = {
    "addrs": [str(a) for a in store.addrs(b)],
    "protocols": store.get_protocols(b),
    "pubkey_matches": ID.from_pubkey(store.pubkey(b)) == b,
}

async def main():
    host = new_host(key_pair=KeyPair(priv, priv.get_public_key()), peerstore_opt=store)
    async with host.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        # No address given: the dial uses what the store kept.
        with trio.fail_after(20):
            await host.connect(PeerInfo(b, []))
            stream = await host.new_stream(b, [protocol])
            await stream.write(b"hello")
            known["reply"] = (await stream.read(1024)).decode()
            await stream.close()

trio.run(main)
store.close()
print(json.dumps(known), flush=True)
"""


def test_a_restarted_host_dials_a_peer_it_learnt_before_without_discovery(tmp_path):
    from libp2p.crypto.ed25519 import create_new_key_pair

    b = subprocess.Popen(
        [sys.executable, "-c", HOST_B, PROTOCOL],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        b_id = b.stdout.readline().strip()
        b_addr = b.stdout.readline().strip()
        assert b_id and b_addr.startswith("/ip4/127.0.0.1/tcp/"), (b_id, b_addr)
        key = create_new_key_pair().private_key.serialize().hex()
        path = str(tmp_path / "a-peers")
        first = json.loads(run_python(HOST_A_FIRST, path, key, b_id, b_addr, PROTOCOL))
        assert PROTOCOL in first["protocols"]

        again = json.loads(run_python(HOST_A_AGAIN, path, key, b_id, PROTOCOL))
        assert b_addr in again["addrs"]
        assert PROTOCOL in again["protocols"]
        assert again["pubkey_matches"]
        assert again["reply"] == "echo:hello"
    finally:
        b.stdin.close()
        try:
            b.wait(timeout=10)
        except subprocess.TimeoutExpired:
            b.kill()
            b.wait()
