// Sign-in, sign-out and the session of one page. The token lives in this tab's sessionStorage
// (gone when the tab closes, never a cookie, never shared with another origin) and is sent as a
// bearer header; the server's session stays the authority (logout revokes it everywhere).

import { Api, ApiError } from "./api";
import { byId, fieldValue, h, replace, setBusy } from "./dom";
import type { LoginResponse, Role, UserSummary } from "./types";
import { field, input, messageArea, showError } from "./ui";

/** What a page gets once someone is signed in. */
export interface ConsoleContext {
  api: Api;
  user: UserSummary;
  root: HTMLElement;
  /** Registers what to undo when the session ends (a code to revoke, a camera to turn off). */
  onEnd: (cleanup: () => Promise<void> | void) => void;
}

/** How a page signs people in and what it shows them afterwards. */
export interface ConsoleOptions {
  role: Role;
  heading: string;
  identifierLabel: string;
  identifierHint?: string;
  /** Merchants may name the cashier at the till (the login's `operator`). */
  askOperator?: boolean;
  render: (context: ConsoleContext) => void | Promise<void>;
}

interface StoredSession {
  token: string;
  expires_at: string;
  user: UserSummary;
}

function storageKey(role: Role): string {
  return `mps-console:${role}`;
}

function loadSession(role: Role): StoredSession | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(storageKey(role)) ?? "null") as StoredSession | null;
    if (stored && stored.user?.role === role && Date.parse(stored.expires_at) > Date.now()) return stored;
  } catch {
    // A damaged entry is dropped below.
  }
  sessionStorage.removeItem(storageKey(role));
  return null;
}

/** Starts a console page: the sign-in form, then `render` for the signed-in user. */
export function startConsole(options: ConsoleOptions): void {
  const root = byId("app");
  const who = byId("who");
  const signOutButton = byId<HTMLButtonElement>("sign-out");
  let session = loadSession(options.role);
  let cleanups: (() => Promise<void> | void)[] = [];

  const api = new Api(
    () => session?.token ?? null,
    (error) => end(error),
  );

  /** Runs the page's cleanups once, while the token (if any) is still good. */
  async function cleanUp(): Promise<void> {
    const pending = cleanups;
    cleanups = [];
    await Promise.allSettled(pending.map(async (cleanup) => cleanup()));
  }

  /** Forgets the session (once) and shows the sign-in, with why when the API ended it. */
  function end(reason?: ApiError): void {
    if (!session) return;
    session = null;
    sessionStorage.removeItem(storageKey(options.role));
    void cleanUp();
    showSignIn(reason);
  }

  async function signOut(): Promise<void> {
    await cleanUp();
    try {
      await api.request("POST", "/auth/logout", { body: {} });
    } catch {
      // Signed out locally either way; the token expires on its own.
    }
    end();
  }

  function showSignedIn(current: StoredSession): void {
    const operator = current.user.operator ? ` (cashier ${current.user.operator})` : "";
    replace(who, `${current.user.name}${operator}`);
    signOutButton.hidden = false;
    replace(root);
    void options.render({ api, user: current.user, root, onEnd: (cleanup) => cleanups.push(cleanup) });
  }

  function showSignIn(reason?: ApiError): void {
    replace(who);
    signOutButton.hidden = true;
    const message = messageArea("sign-in-message");
    if (reason) showError(message, reason);
    const form = h(
      "form",
      { class: "panel sign-in", id: "sign-in", onsubmit: (event: SubmitEvent) => submit(event) },
      h("h1", null, options.heading),
      field(options.identifierLabel, input("identifier", { required: true, autocomplete: "username", autofocus: true }), options.identifierHint),
      field("Password", input("password", { type: "password", required: true, autocomplete: "current-password" })),
      options.askOperator ? field("Cashier (optional)", input("operator", { maxlength: "64" }), "Printed on receipts and transactions.") : null,
      h("button", { type: "submit", class: "primary" }, "Sign in"),
      message,
    );
    replace(root, form);
    form.querySelector<HTMLInputElement>("input")?.focus();

    async function submit(event: SubmitEvent): Promise<void> {
      event.preventDefault();
      const body = {
        role: options.role,
        identifier: fieldValue(form, "identifier"),
        password: (form.elements.namedItem("password") as HTMLInputElement).value,
        operator: options.askOperator ? fieldValue(form, "operator") || undefined : undefined,
      };
      setBusy(form, true);
      try {
        const login = await api.post<LoginResponse>("/auth/login", body);
        session = { token: login.token, expires_at: login.expires_at, user: login.user };
        sessionStorage.setItem(storageKey(options.role), JSON.stringify(session));
        showSignedIn(session);
      } catch (error) {
        setBusy(form, false);
        showError(message, error);
      }
    }
  }

  signOutButton.addEventListener("click", () => void signOut());
  if (session) showSignedIn(session);
  else showSignIn();
}
