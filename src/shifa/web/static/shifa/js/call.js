// The call screen of a video visit (TM-1). A device check (camera preview, microphone level, the call service and
// the network), then joining: the join API gives a short-lived token, the signaling WebSocket (see
// shifa/telehealth/consumers.py) holds us in the waiting room until the doctor lets us in, and each other person
// in the call gets one RTCPeerConnection (a mesh of at most three). Mute, camera off and audio only never
// renegotiate: tracks are switched on the senders. The doctor also sees who waits, invites a guest by a one-time
// link, ends the visit for everyone, and writes the visit's notes beside the video.
(() => {
  const configNode = document.getElementById("call-config");
  const root = document.querySelector("[data-call]");
  if (!configNode || !root) return;
  const config = JSON.parse(configNode.textContent);
  const t = config.strings;
  const $ = (selector, scope = document) => scope.querySelector(selector);
  const csrf = () => (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  const wsUrl = (path) => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const state = {
    local: new MediaStream(),
    socket: null,
    self: null,
    token: null,
    expiresAt: 0,
    signaling: null,
    iceServers: [],
    peers: new Map(),
    media: { audio: true, video: true, audio_only: false },
    over: false,
    retries: 0,
    refreshTimer: null,
    meter: null,
  };
  // For tests and for support: the live peer connections of this page.
  window.shifaCall = {
    state,
    connections: () => [...state.peers.values()].map((peer) => peer.pc),
  };

  const status = (text) => {
    const node = $("[data-status]", root);
    if (node) node.textContent = text || "";
  };
  const banner = (text) => {
    const node = $("[data-banner]", root);
    node.textContent = text || "";
    node.hidden = !text;
  };
  const show = (stage) => {
    for (const node of root.querySelectorAll("[data-stage]")) node.hidden = node.dataset.stage !== stage;
  };
  const check = (name, result, text) => {
    const item = $(`[data-check="${name}"]`, root);
    if (!item) return;
    item.dataset.state = result;
    $("[data-result]", item).textContent = text;
  };
  const localTrack = (kind) => state.local.getTracks().find((track) => track.kind === kind) || null;

  // --- the device check -----------------------------------------------------------------------------------------

  async function startDevices() {
    if (!navigator.mediaDevices || !window.RTCPeerConnection) {
      check("camera", "failed", t.devices_unsupported);
      check("microphone", "failed", t.devices_unsupported);
      return;
    }
    let stream = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true },
        video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } },
      });
    } catch (error) {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (again) {
        stream = null;
      }
    }
    if (stream) for (const track of stream.getTracks()) state.local.addTrack(track);
    const camera = localTrack("video");
    const microphone = localTrack("audio");
    check("camera", camera ? "ok" : "warning", camera ? t.camera_ok : t.camera_failed);
    check("microphone", microphone ? "ok" : "failed", microphone ? t.microphone_ok : t.microphone_failed);
    if (!camera) state.media.video = false;
    const preview = $("[data-preview]", root);
    if (preview) preview.srcObject = state.local;
    $("[data-self]", root).srcObject = state.local;
    updateSelf();
    if (microphone) startMeter(microphone);
  }

  function startMeter(track) {
    const meter = $("[data-level]", root);
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!meter || !Context) return;
    const context = new Context();
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const resume = () => context.state === "suspended" && context.resume();
    document.addEventListener("click", resume, { once: true });
    resume();
    const tick = () => {
      if (state.meter !== context) return;
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += sample * sample;
      meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
      requestAnimationFrame(tick);
    };
    state.meter = context;
    requestAnimationFrame(tick);
  }

  function stopMeter() {
    if (state.meter) state.meter.close();
    state.meter = null;
  }

  async function checkConnection() {
    const reachable = await new Promise((resolve) => {
      let socket;
      const done = (ok) => {
        clearTimeout(timer);
        if (socket) socket.close();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), 6000);
      try {
        socket = new WebSocket(wsUrl(config.probe));
      } catch (error) {
        done(false);
        return;
      }
      socket.onopen = () => socket.send(JSON.stringify({ type: "ping" }));
      socket.onmessage = (event) => JSON.parse(event.data).type === "pong" && done(true);
      socket.onerror = () => done(false);
    });
    if (!reachable) {
      check("connection", "failed", t.connection_failed);
      return;
    }
    // Which ICE candidates this network yields with our STUN servers: a reflexive one means peers elsewhere can
    // reach us directly; TURN (given per join) covers the rest.
    const types = new Set();
    try {
      const pc = new RTCPeerConnection({ iceServers: config.stun.length ? [{ urls: config.stun }] : [] });
      pc.createDataChannel("check");
      pc.onicecandidate = (event) => event.candidate && types.add(event.candidate.type);
      await pc.setLocalDescription(await pc.createOffer());
      for (let waited = 0; pc.iceGatheringState !== "complete" && waited < 4000; waited += 200) await sleep(200);
      pc.close();
    } catch (error) {
      types.clear();
    }
    const direct = !config.stun.length || types.has("srflx") || types.has("relay");
    check("connection", types.size && direct ? "ok" : "warning", types.size && direct ? t.connection_good : t.connection_local);
  }

  // --- joining and the signaling connection ----------------------------------------------------------------------

  // A guest's browser keeps the key it got when it first used the link, to come back after a reload.
  const resumeKey = config.join.body && config.join.body.link ? `shifa.call.resume.${config.join.body.link}` : null;

  function storedResume() {
    try {
      return (resumeKey && window.sessionStorage.getItem(resumeKey)) || "";
    } catch (error) {
      return "";
    }
  }

  async function fetchToken() {
    const payload = { ...(config.join.body || {}) };
    if (resumeKey && storedResume()) payload.resume = storedResume();
    const response = await fetch(config.join.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(payload),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok && body.resume && resumeKey) {
      try {
        window.sessionStorage.setItem(resumeKey, body.resume);
      } catch (error) {
        // private browsing: the link works for this page only
      }
    }
    if (!response.ok) {
      const error = new Error(body.detail || t.join_failed);
      error.code = body.code;
      throw error;
    }
    state.token = body.token;
    state.expiresAt = Date.parse(body.expires_at);
    state.signaling = body.meeting.join_info.signaling;
    state.iceServers = (body.connection && body.connection.ice_servers) || [];
  }

  async function join() {
    const button = $("[data-join]", root);
    button.disabled = true;
    status(t.joining);
    try {
      await fetchToken();
    } catch (error) {
      status(error.message);
      button.disabled = false;
      return;
    }
    status("");
    stopMeter();
    show("call");
    connect();
  }

  function connect() {
    const socket = new WebSocket(wsUrl(state.signaling));
    state.socket = socket;
    socket.onopen = () => send({ type: "join", data: { token: state.token } });
    socket.onmessage = (event) => handle(JSON.parse(event.data));
    socket.onclose = (event) => socket === state.socket && closed(event.code);
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
  }

  function sendMedia() {
    send({ type: "media", data: state.media });
    updateSelf();
  }

  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    const wait = Math.max(5000, state.expiresAt - Date.now() - 60000);
    state.refreshTimer = setTimeout(() => send({ type: "refresh", data: {} }), wait);
  }

  function handle(message) {
    const data = message.data || {};
    switch (message.type) {
      case "joined":
        state.self = data.self;
        state.retries = 0;
        banner("");
        scheduleRefresh();
        if (!state.media.audio || !state.media.video || state.media.audio_only) sendMedia();
        break;
      case "waiting":
        banner(t.waiting);
        break;
      case "admitted":
        state.self = data.self;
        banner("");
        break;
      case "lobby":
        renderLobby(data.waiting || []);
        break;
      case "peer.joined":
        addPeer(data.attendee, data.media || {}, data.offer);
        break;
      case "peer.left":
        removePeer(data.attendee);
        break;
      case "peer.media":
        peerMedia(data.attendee, data);
        break;
      case "signal":
        onSignal(data).catch((error) => console.warn("signal", error));
        break;
      case "token":
        state.token = data.token;
        state.expiresAt = Date.parse(data.expires_at);
        scheduleRefresh();
        break;
      case "ended":
        over(t.ended);
        break;
      case "removed":
        over(t.removed);
        break;
      case "replaced":
        over(t.replaced);
        break;
      case "error":
        if (data.code === "meeting_ended") over(t.ended);
        else if (data.code === "removed") over(t.removed);
        else if (data.detail) banner(data.detail);
        break;
      default:
        break;
    }
  }

  async function closed(code) {
    for (const id of [...state.peers.keys()]) removePeer(id);
    clearTimeout(state.refreshTimer);
    if (state.over) return;
    if (code === 4000) return over(t.ended);
    if (code === 4001) return over(t.replaced);
    if (code === 4403) return over(t.removed);
    banner(t.reconnecting);
    await sleep(Math.min(10000, 500 * 2 ** state.retries));
    state.retries += 1;
    if (state.over) return;
    if (code === 4404 || Date.now() > state.expiresAt - 5000) {
      if (config.role === "guest" && !storedResume()) return over(t.link_spent);
      try {
        await fetchToken();
      } catch (error) {
        if (error.code) return over(error.message);
        return closed(1006); // offline: keep trying
      }
    }
    connect();
  }

  function over(text) {
    state.over = true;
    clearTimeout(state.refreshTimer);
    for (const id of [...state.peers.keys()]) removePeer(id);
    if (state.socket) state.socket.close(1000);
    for (const track of state.local.getTracks()) track.stop();
    stopMeter();
    $("[data-over]", root).textContent = text;
    show("over");
  }

  // --- peers ----------------------------------------------------------------------------------------------------

  function makeTile(info) {
    const tile = document.createElement("figure");
    tile.className = "call-tile";
    tile.dataset.peer = info.id;
    tile.dataset.video = "on";
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    const avatar = document.createElement("div");
    avatar.className = "call-avatar";
    avatar.setAttribute("aria-hidden", "true");
    const letter = document.createElement("span");
    letter.textContent = (info.name || "?").trim().charAt(0);
    avatar.append(letter);
    const caption = document.createElement("figcaption");
    const name = document.createElement("bdi");
    name.textContent = info.name;
    const note = document.createElement("span");
    note.dataset.note = "";
    caption.append(name, " · ", (t.roles && t.roles[info.role]) || info.role, note);
    tile.append(video, avatar, caption);
    $("[data-remotes]", root).append(tile);
    return tile;
  }

  function transceiver(pc, kind) {
    return pc.getTransceivers().find((item) => item.receiver.track && item.receiver.track.kind === kind);
  }

  function videoFor(peer) {
    // Nobody sends video to someone in audio only, and nobody in audio only sends any.
    if (state.media.audio_only || peer.media.audio_only) return null;
    return localTrack("video");
  }

  function addPeer(info, media, offer) {
    removePeer(info.id); // the same person again (a reconnect): start afresh
    const pc = new RTCPeerConnection({ iceServers: state.iceServers });
    const peer = { pc, info, media: { audio: true, video: true, audio_only: false, ...media }, pending: [] };
    peer.stream = new MediaStream();
    peer.tile = makeTile(info);
    $("video", peer.tile).srcObject = peer.stream;
    state.peers.set(info.id, peer);
    pc.ontrack = (event) => {
      peer.stream.addTrack(event.track);
      const video = $("video", peer.tile);
      video.srcObject = peer.stream;
      video.play().catch(() => {});
    };
    pc.onicecandidate = (event) => {
      if (event.candidate) send({ type: "signal", data: { to: info.id, candidate: event.candidate.toJSON() } });
    };
    pc.onconnectionstatechange = () => {
      peer.tile.dataset.state = pc.connectionState;
      updateTile(peer);
      if (pc.connectionState === "failed" && peer.offerer) offerTo(peer, true);
    };
    peer.offerer = offer;
    if (offer) {
      pc.addTransceiver(localTrack("audio") || "audio", { direction: "sendrecv", streams: [state.local] });
      pc.addTransceiver(videoFor(peer) || "video", { direction: "sendrecv", streams: [state.local] });
      offerTo(peer, false);
    }
    updateTile(peer);
  }

  async function offerTo(peer, restart) {
    try {
      await peer.pc.setLocalDescription(await peer.pc.createOffer(restart ? { iceRestart: true } : {}));
      send({ type: "signal", data: { to: peer.info.id, description: peer.pc.localDescription.toJSON() } });
    } catch (error) {
      console.warn("offer", error);
    }
  }

  async function onSignal(data) {
    const peer = state.peers.get(data.from);
    if (!peer) return;
    const pc = peer.pc;
    if (data.description) {
      await pc.setRemoteDescription(data.description);
      if (data.description.type === "offer") {
        // Answer on the offerer's transceivers, sending our own tracks both ways.
        for (const item of pc.getTransceivers()) {
          const kind = item.receiver.track.kind;
          await item.sender.replaceTrack(kind === "video" ? videoFor(peer) : localTrack("audio"));
          item.direction = "sendrecv";
          if (item.sender.setStreams) item.sender.setStreams(state.local);
        }
        await pc.setLocalDescription(await pc.createAnswer());
        send({ type: "signal", data: { to: data.from, description: pc.localDescription.toJSON() } });
      }
      for (const candidate of peer.pending.splice(0)) await pc.addIceCandidate(candidate).catch(() => {});
    } else if (data.candidate) {
      if (pc.remoteDescription) await pc.addIceCandidate(data.candidate).catch(() => {});
      else peer.pending.push(data.candidate);
    }
  }

  function removePeer(id) {
    const peer = state.peers.get(id);
    if (!peer) return;
    state.peers.delete(id);
    peer.pc.close();
    peer.tile.remove();
  }

  function peerMedia(id, media) {
    const peer = state.peers.get(id);
    if (!peer) return;
    const before = peer.media.audio_only;
    peer.media = { audio: media.audio, video: media.video, audio_only: media.audio_only };
    if (before !== peer.media.audio_only) {
      const item = transceiver(peer.pc, "video");
      if (item) item.sender.replaceTrack(videoFor(peer)).catch(() => {});
    }
    updateTile(peer);
  }

  function updateTile(peer) {
    const showsVideo = peer.media.video && !peer.media.audio_only && !state.media.audio_only;
    peer.tile.dataset.video = showsVideo ? "on" : "off";
    const notes = [];
    if (!peer.media.audio) notes.push(t.muted);
    if (peer.media.audio_only) notes.push(t.audio_only_badge);
    if (peer.pc.connectionState !== "connected") notes.push(t.connecting);
    $("[data-note]", peer.tile).textContent = notes.length ? ` · ${notes.join(" · ")}` : "";
  }

  function updateSelf() {
    const tile = $("[data-self-tile]", root);
    tile.dataset.video = state.media.video && !state.media.audio_only && localTrack("video") ? "on" : "off";
    const press = (action, pressed, label) => {
      const button = $(`[data-action="${action}"]`, root);
      button.setAttribute("aria-pressed", String(pressed));
      button.textContent = label;
    };
    press("mute", !state.media.audio, state.media.audio ? t.mute : t.unmute);
    press("camera", !state.media.video, state.media.video ? t.camera_off : t.camera_on);
    press("audio-only", state.media.audio_only, state.media.audio_only ? t.video_back : t.audio_only);
    $('[data-action="camera"]', root).disabled = state.media.audio_only || !localTrack("video");
  }

  // --- controls -------------------------------------------------------------------------------------------------

  function toggleMute() {
    state.media.audio = !state.media.audio;
    const track = localTrack("audio");
    if (track) track.enabled = state.media.audio;
    sendMedia();
  }

  function toggleCamera() {
    state.media.video = !state.media.video;
    const track = localTrack("video");
    if (track) track.enabled = state.media.video;
    sendMedia();
  }

  async function toggleAudioOnly() {
    const on = !state.media.audio_only;
    if (on) {
      state.media.audio_only = true;
      const track = localTrack("video");
      for (const peer of state.peers.values()) {
        const item = transceiver(peer.pc, "video");
        if (item) await item.sender.replaceTrack(null);
      }
      if (track) {
        track.stop();
        state.local.removeTrack(track);
      }
    } else {
      try {
        const stream = await navigator.mediaDevices.getUserMedia({
          video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } },
        });
        const track = stream.getVideoTracks()[0];
        track.enabled = state.media.video;
        state.local.addTrack(track);
      } catch (error) {
        state.media.video = false;
      }
      state.media.audio_only = false;
      for (const peer of state.peers.values()) {
        const item = transceiver(peer.pc, "video");
        if (item) await item.sender.replaceTrack(videoFor(peer));
      }
    }
    $("[data-self]", root).srcObject = state.local;
    for (const peer of state.peers.values()) updateTile(peer);
    sendMedia();
  }

  function leave() {
    send({ type: "leave", data: {} });
    over(t.left);
  }

  async function endForEveryone() {
    if (!window.confirm(t.confirm_end)) return;
    const response = await fetch(config.api.end, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf() },
    });
    if (response.ok) over(t.ended);
    else banner(((await response.json().catch(() => ({}))).detail) || t.join_failed);
  }

  // --- the doctor's side panel ----------------------------------------------------------------------------------

  function renderLobby(waiting) {
    const list = $("[data-lobby]");
    if (!list) return;
    list.replaceChildren();
    if (!waiting.length) {
      const empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = t.nobody_waiting;
      list.append(empty);
      return;
    }
    for (const person of waiting) {
      const item = document.createElement("li");
      item.dataset.waiting = person.id;
      const name = document.createElement("span");
      const bdi = document.createElement("bdi");
      bdi.textContent = person.name;
      name.append(bdi, ` · ${(t.roles && t.roles[person.role]) || person.role}`);
      const admit = document.createElement("button");
      admit.type = "button";
      admit.className = "button";
      admit.dataset.admit = person.id;
      admit.textContent = t.admit;
      admit.addEventListener("click", () => {
        admit.disabled = true;
        send({ type: "admit", data: { attendee: person.id } });
      });
      item.append(name, admit);
      list.append(item);
    }
  }

  function guestRow(attendee) {
    const item = document.createElement("li");
    item.dataset.guest = attendee.id;
    const name = document.createElement("bdi");
    name.textContent = attendee.name;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button button--link";
    remove.dataset.removeGuest = attendee.id;
    remove.textContent = t.remove;
    item.append(name, remove);
    return item;
  }

  function bindDoctor() {
    const form = $("[data-invite]");
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const note = $("[data-invite-status]");
        note.textContent = "";
        const response = await fetch(config.api.guests, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
          body: JSON.stringify({ name: form.elements.name.value }),
        });
        const body = await response.json().catch(() => ({}));
        if (!response.ok) {
          const field = (body.errors || [])[0];
          note.textContent = (field && field.message) || body.detail || t.join_failed;
          return;
        }
        form.reset();
        $("[data-invite-link]").value = body.url;
        $("[data-invite-result]").hidden = false;
        $("[data-guest-list]").append(guestRow(body.attendee));
      });
    }
    const copy = $("[data-copy]");
    if (copy) {
      copy.addEventListener("click", async () => {
        const input = $("[data-invite-link]");
        input.select();
        try {
          await navigator.clipboard.writeText(input.value);
        } catch (error) {
          document.execCommand("copy");
        }
        $("[data-invite-status]").textContent = t.copied;
      });
    }
    const guests = $("[data-guest-list]");
    if (guests) {
      guests.addEventListener("click", async (event) => {
        const button = event.target.closest("[data-remove-guest]");
        if (!button) return;
        button.disabled = true;
        const response = await fetch(`${config.api.guests}/${button.dataset.removeGuest}`, {
          method: "DELETE",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrf() },
        });
        if (response.ok) {
          button.closest("li").remove();
          $("[data-invite-result]").hidden = true;
        } else button.disabled = false;
      });
    }
    bindNotes();
  }

  // The visit's notes are saved through the visit page's own form handler, without leaving the call.
  function bindNotes() {
    const panel = $("[data-notes-panel]");
    if (!panel) return;
    const notes = $("[data-notes]", panel);
    if (notes) {
      notes.addEventListener("submit", async (event) => {
        event.preventDefault();
        const note = $("[data-notes-status]", panel);
        note.textContent = "";
        const response = await fetch(notes.action, {
          method: "POST",
          credentials: "same-origin",
          body: new FormData(notes),
        }).catch(() => null);
        note.textContent = response && response.ok ? t.saved : t.not_saved;
      });
    }
    const open = $("[data-open-visit]", panel);
    if (open) {
      open.addEventListener("submit", async (event) => {
        event.preventDefault();
        const response = await fetch(open.action, {
          method: "POST",
          credentials: "same-origin",
          body: new FormData(open),
        }).catch(() => null);
        if (!response || !response.ok) {
          $("[data-notes-status]", panel).textContent = t.not_saved;
          return;
        }
        const page = await fetch(location.pathname, { credentials: "same-origin" });
        const fresh = new DOMParser().parseFromString(await page.text(), "text/html").querySelector("[data-notes-panel]");
        if (fresh) {
          panel.replaceWith(fresh);
          bindNotes();
        }
      });
    }
  }

  // --- start ----------------------------------------------------------------------------------------------------

  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "mute") toggleMute();
    else if (action === "camera") toggleCamera();
    else if (action === "audio-only") toggleAudioOnly();
    else if (action === "leave") leave();
    else if (action === "end") endForEveryone();
  });
  const joinButton = $("[data-join]", root);
  if (joinButton) joinButton.addEventListener("click", join);
  window.addEventListener("pagehide", () => send({ type: "leave", data: {} }));
  if (config.opens_at) {
    const wait = Date.parse(config.opens_at) - Date.now();
    if (wait > 0 && wait < 24 * 3600 * 1000) setTimeout(() => location.reload(), wait + 1000);
  }
  if (config.role === "doctor") bindDoctor();
  show("check");
  startDevices();
  checkConnection();
})();
