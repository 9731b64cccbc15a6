// Shared pieces of the console's screens: the template tag, data loading, errors, countdowns, time.
import { h } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import { ApiError, LiveSubscription, gql } from "./gql.js";

export const html = htm.bind(h);

/** Loads `load()` now and whenever `reload()` is called; `data` keeps the last good answer while reloading. */
export function useData(load, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const reload = useCallback(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    return load().then(
      (data) => mine === seq.current && setState({ data, error: null, loading: false }),
      (error) => mine === seq.current && setState((s) => ({ ...s, error, loading: false })),
    );
  }, deps);
  useEffect(() => {
    reload();
  }, [reload]);
  return { ...state, reload };
}

/** Runs `fn` at most once per `ms` (the last call wins), for reloads triggered by bursts of live events. */
export function useDebounced(fn, ms = 250) {
  const timer = useRef(null);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => latest.current(), ms);
  }, [ms]);
}

/** A live subscription for the component's lifetime; returns "live", "reconnecting" or "connecting". */
export function useLive(query, variables, field, onEvent, deps = []) {
  const [state, setState] = useState("connecting");
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    const sub = new LiveSubscription({
      query,
      variables,
      field,
      onEvent: (e) => handler.current(e),
      onState: (s) => setState(s),
    });
    return () => sub.close();
  }, deps);
  return state;
}

/** Wraps a mutation for a button: `run(...)` sets `busy`, keeps the error to show, resolves to the result. */
export function useAction(fn) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (...args) => {
    setBusy(true);
    setError(null);
    try {
      return await fn(...args);
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, setError };
}

export function ErrorBox({ error }) {
  if (!error) return null;
  const errors = (error.extensions && error.extensions.errors) || [];
  return html`<div class="error" role="alert">
    <p>${error.message}</p>
    ${errors.length > 0 && html`<ul>${errors.map((e) => html`<li><strong>${e.field}</strong>: ${e.message}</li>`)}</ul>`}
  </div>`;
}

/** Seconds left until `deadline` (an ISO time), ticking every second; negative once passed. */
export function useSecondsLeft(deadline) {
  const compute = () => (deadline ? Math.ceil((Date.parse(deadline) - Date.now()) / 1000) : null);
  const [left, setLeft] = useState(compute);
  useEffect(() => {
    setLeft(compute());
    if (!deadline) return undefined;
    const t = setInterval(() => setLeft(compute()), 250);
    return () => clearInterval(t);
  }, [deadline]);
  return left;
}

export function Countdown({ deadline, label }) {
  const left = useSecondsLeft(deadline);
  if (left === null) return null;
  return html`<span class="countdown" role="timer" aria-label=${label}>${left > 0 ? `${left} s left` : "time is up"}</span>`;
}

/** "3 min 20 s" since an ISO time, ticking. */
export function Since({ at }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, []);
  if (!at) return html`<span>—</span>`;
  return html`<time datetime=${at} title=${new Date(at).toLocaleString()}>${duration((Date.now() - Date.parse(at)) / 1000)}</time>`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function time(at) {
  return at ? new Date(at).toLocaleTimeString() : "";
}

export function words(enumValue) {
  if (!enumValue) return "";
  const s = enumValue.toLowerCase().replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = document.createElement("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
  return Promise.resolve();
}

export { ApiError, gql };
