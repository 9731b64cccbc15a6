// The console's only way to the product: GraphQL over HTTP (POST /graphql) and live subscriptions over the
// `graphql-transport-ws` protocol on the same path. Nothing here knows about screens.

const TOKEN_KEY = "console.token";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An error the API answered: `code` is `extensions.code`, `extensions` the rest (`errors`, `retryAfter`, ...). */
export class ApiError extends Error {
  constructor(error) {
    super(error.message || "The request failed");
    this.extensions = error.extensions || {};
    this.code = this.extensions.code || "ERROR";
  }
}

/** Runs one operation; resolves to `data`, rejects with an ApiError (the first one) on any error. */
export async function gql(query, variables = {}) {
  const headers = { "content-type": "application/json" };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new ApiError({ message: "The server cannot be reached: check the connection", extensions: { code: "NETWORK" } });
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError({ message: `The server answered ${response.status}`, extensions: { code: "HTTP" } });
  }
  if (body.errors && body.errors.length) {
    const error = new ApiError(body.errors[0]);
    if (error.code === "UNAUTHENTICATED") window.dispatchEvent(new CustomEvent("console:signed-out"));
    throw error;
  }
  return body.data;
}

/**
 * One live subscription that survives connection loss: it reconnects with a growing pause (and at once when the
 * browser comes back online) and resumes `after` the last cursor it saw, so events missed while away are replayed
 * in order before live ones. `onState` hears "live" or "reconnecting".
 */
export class LiveSubscription {
  constructor({ query, variables = {}, field, onEvent, onState = () => {} }) {
    Object.assign(this, { query, variables, field, onEvent, onState });
    this.cursor = null;
    this.closed = false;
    this.attempt = 0;
    this.socket = null;
    this.online = () => this.reconnectNow();
    this.offline = () => this.drop();
    window.addEventListener("online", this.online);
    window.addEventListener("offline", this.offline);
    this.connect();
  }

  connect() {
    if (this.closed) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    const socket = new WebSocket(url, "graphql-transport-ws");
    this.socket = socket;
    let acked = false;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${getToken()}` } }));
    };
    socket.onmessage = (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.type === "connection_ack") {
        acked = true;
        this.attempt = 0;
        const variables = { ...this.variables };
        if (this.cursor && this.query.includes("$after")) variables.after = this.cursor;
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: this.query, variables } }));
        this.onState("live");
      } else if (frame.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (frame.type === "next") {
        const data = frame.payload && frame.payload.data && frame.payload.data[this.field];
        if (!data) return;
        if (data.cursor) this.cursor = data.cursor;
        this.onEvent(data);
      } else if (frame.type === "error") {
        this.onState("failed", frame.payload && frame.payload[0] && frame.payload[0].message);
      }
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.closed) return;
      // 4403: the token is no longer good; 4401-4499 are the server's refusals, not network trouble.
      if (event.code === 4403 || event.code === 4401) {
        window.dispatchEvent(new CustomEvent("console:signed-out"));
        return;
      }
      this.onState("reconnecting");
      const pause = Math.min(10000, 500 * 2 ** this.attempt++);
      this.timer = setTimeout(() => this.connect(), acked ? 200 : pause);
    };
  }

  /** The browser went offline: stop trusting the socket at once (its close handshake may never come). */
  drop() {
    const socket = this.socket;
    if (!socket || this.closed) return;
    this.socket = null;
    this.onState("reconnecting");
    socket.close();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), 1000);
  }

  reconnectNow() {
    if (this.closed || this.socket) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    window.removeEventListener("online", this.online);
    window.removeEventListener("offline", this.offline);
    if (this.socket) this.socket.close();
  }
}
