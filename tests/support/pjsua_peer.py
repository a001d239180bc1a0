"""A pjsua2 softphone for sipterm's integration tests (tests/support/pjsua.rs drives it).

Commands, one per line on stdin:
  call <uri>        place a call (one call at a time)
  dtmf <digits>     send digits the default way (RFC 4733 telephone-events)
  hold              re-INVITE with a=sendonly
  resume            re-INVITE that takes the call off hold
  hangup            BYE (or CANCEL while it rings)
  quit              end the program

Events, one per line on stdout:
  ready <sip port>
  state <PJSIP_INV_STATE name> <last status code>
  media <active|local_hold|remote_hold|none>
  dtmf <digit> <rfc2833|info|...>
  ended <last status code> <reason words>
  recorded          (the recording is closed: the first call ended)
  error <what>

Arguments: --port N (SIP, UDP on 127.0.0.1), --rtp-port N, --play WAV (sent as the
microphone, looped), --record WAV (what it hears), --user NAME.

No sound card: the null device; the conference bridge is clocked by pjmedia's own timer.
Everything runs on this one thread (threadCnt 0, mainThreadOnly): libHandleEvents polls
the SIP and media sockets, select() polls stdin, so no callback races the reader.
"""

import argparse
import os
import select
import sys

import pjsua2 as pj

STATE_NAMES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}

DTMF_METHODS = {
    pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833",
    pj.PJSUA_DTMF_METHOD_SIP_INFO: "info",
}


def emit(*words):
    print(" ".join(str(w) for w in words), flush=True)


class Peer:
    def __init__(self, args):
        self.args = args
        self.call = None
        self.player = None
        self.recorder = None
        # Set when a call ends; the main loop then drops the recorder, which closes the WAV
        # (its header is written on close), outside pjsua's callback.
        self.close_recorder = False


class StderrLog(pj.LogWriter):
    """pjsip's log on stderr: stdout carries only the events."""

    def write(self, entry):
        sys.stderr.write(entry.msg)
        sys.stderr.flush()


class Call(pj.Call):
    def __init__(self, peer, account):
        pj.Call.__init__(self, account)
        self.peer = peer

    def onCallState(self, prm):
        info = self.getInfo()
        emit("state", STATE_NAMES.get(info.state, info.state), info.lastStatusCode)
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            emit("ended", info.lastStatusCode, info.lastReason or "-")
            self.peer.call = None
            self.peer.close_recorder = self.peer.recorder is not None

    def onCallMediaState(self, prm):
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            status = {
                pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
                pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
                pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
            }.get(media.status, "none")
            if media.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                audio = self.getAudioMedia(index)
                if self.peer.player is not None:
                    self.peer.player.startTransmit(audio)
                if self.peer.recorder is not None:
                    audio.startTransmit(self.peer.recorder)
            emit("media", status)

    def onDtmfDigit(self, prm):
        emit("dtmf", prm.digit, DTMF_METHODS.get(prm.method, prm.method))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--play")
    parser.add_argument("--record")
    parser.add_argument("--user", default="carol")
    parser.add_argument("--log-level", type=int, default=3)
    args = parser.parse_args()

    peer = Peer(args)
    ep = pj.Endpoint()
    ep.libCreate()
    config = pj.EpConfig()
    config.uaConfig.threadCnt = 0
    config.uaConfig.mainThreadOnly = True
    config.uaConfig.userAgent = "pjsua2-peer/" + ep.libVersion().full
    # pjsip's log to stderr (the harness keeps it for failure reports), never stdout.
    log = StderrLog()
    config.logConfig.level = args.log_level
    config.logConfig.consoleLevel = args.log_level
    config.logConfig.writer = log
    config.logConfig.decor = pj.PJ_LOG_HAS_TIME | pj.PJ_LOG_HAS_SENDER | pj.PJ_LOG_HAS_NEWLINE
    config.medConfig.noVad = True
    config.medConfig.ecTailLen = 0
    ep.libInit(config)

    transport = pj.TransportConfig()
    transport.port = args.port
    transport.boundAddress = "127.0.0.1"
    transport.publicAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    ep.libStart()
    ep.audDevManager().setNullDev()

    if args.play:
        peer.player = pj.AudioMediaPlayer()
        peer.player.createPlayer(args.play)  # loops by default
    if args.record:
        peer.recorder = pj.AudioMediaRecorder()
        peer.recorder.createRecorder(args.record)

    account_config = pj.AccountConfig()
    account_config.idUri = "sip:%s@127.0.0.1:%d" % (args.user, args.port)
    media_transport = account_config.mediaConfig.transportConfig
    media_transport.port = args.rtp_port
    media_transport.portRange = 0
    media_transport.boundAddress = "127.0.0.1"
    media_transport.publicAddress = "127.0.0.1"
    account = pj.Account()
    account.create(account_config)

    emit("ready", args.port)
    buffered = b""
    running = True
    while running:
        ep.libHandleEvents(10)
        if peer.close_recorder:
            peer.close_recorder = False
            peer.recorder = None
            emit("recorded")
        readable, _, _ = select.select([sys.stdin], [], [], 0)
        if not readable:
            continue
        chunk = os.read(sys.stdin.fileno(), 4096)
        if not chunk:
            break
        buffered += chunk
        while b"\n" in buffered:
            line, buffered = buffered.split(b"\n", 1)
            words = line.decode().split()
            if not words:
                continue
            try:
                running = command(peer, account, words)
            except pj.Error as error:
                emit("error", words[0], error.info().replace("\n", " "))
            if not running:
                break

    if peer.call is not None:
        try:
            peer.call.hangup(pj.CallOpParam())
            for _ in range(50):
                ep.libHandleEvents(10)
        except pj.Error:
            pass
    ep.libDestroy()


def command(peer, account, words):
    """Runs one command; False ends the program."""
    name, rest = words[0], words[1:]
    call = peer.call
    if name == "quit":
        return False
    if name == "call":
        peer.call = Call(peer, account)
        peer.call.makeCall(rest[0], pj.CallOpParam(True))
    elif call is None:
        emit("error", name, "no call")
    elif name == "dtmf":
        call.dialDtmf(rest[0])
    elif name == "hold":
        call.setHold(pj.CallOpParam(True))
    elif name == "resume":
        param = pj.CallOpParam(True)
        param.opt.flag = pj.PJSUA_CALL_UNHOLD
        call.reinvite(param)
    elif name == "hangup":
        call.hangup(pj.CallOpParam())
    else:
        emit("error", name, "unknown command")
    return True


if __name__ == "__main__":
    main()
