// The console's only way to the server: the public JSON API on the same origin, a bearer token
// from sign-in, the API's error envelope turned into an ApiError that keeps its code and
// request id for the person reading it.

/** An answer of the API that was not a success, or no answer at all (`status` 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
    readonly details: unknown,
  ) {
    super(message);
  }

  /** Whether the server may have carried the request out: no answer, a timeout, or the same key still running. */
  get outcomeUnknown(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504
      || this.code === "IDEMPOTENCY_IN_PROGRESS";
  }
}

/** A success, with whether it was replayed from an earlier request with the same Idempotency-Key. */
export interface Reply<T> {
  data: T;
  replayed: boolean;
  requestId: string | null;
}

type Query = Record<string, string | number | null | undefined>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
  idempotencyKey?: string;
}

/** How long one request may take before its outcome counts as unknown. */
const REQUEST_TIMEOUT_MS = 20_000;
/** Pauses before the automatic retries of an idempotent request (the key makes them safe). */
const RETRY_DELAYS_MS = [300, 800, 1600];

function pathWithQuery(path: string, query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== null && value !== undefined && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function errorFrom(response: Response): Promise<ApiError> {
  const requestId = response.headers.get("x-request-id");
  try {
    const envelope = await response.json();
    const error = envelope?.error;
    if (error && typeof error.code === "string") {
      return new ApiError(response.status, error.code, String(error.message ?? ""), error.request_id ?? requestId, error.details);
    }
  } catch {
    // Not the envelope (a proxy's page, say): described by its status below.
  }
  return new ApiError(response.status, `HTTP_${response.status}`, `The server answered ${response.status} ${response.statusText}.`, requestId, null);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A client of the API for one signed-in tab. */
export class Api {
  constructor(
    private readonly token: () => string | null,
    private readonly onSessionEnded: (error: ApiError) => void,
  ) {}

  /** One request; throws ApiError for every answer that is not a success. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { accept: "application/json" };
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.idempotencyKey) headers["idempotency-key"] = options.idempotencyKey;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    let response: Response;
    try {
      response = await fetch(pathWithQuery(path, options.query), {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        credentials: "omit",
        cache: "no-store",
        signal: abort.signal,
      });
    } catch {
      throw new ApiError(0, "NO_ANSWER", "No answer from the server (network error or timeout).", null, null);
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) {
      const error = await errorFrom(response);
      if (error.status === 401 && token) this.onSessionEnded(error);
      throw error;
    }
    const data = response.status === 204 ? (undefined as T) : ((await response.json()) as T);
    return { data, replayed: response.headers.get("idempotent-replayed") === "true", requestId: response.headers.get("x-request-id") };
  }

  async get<T>(path: string, query?: Query): Promise<T> {
    return (await this.request<T>("GET", path, { query })).data;
  }

  async post<T>(path: string, body?: unknown): Promise<T> {
    return (await this.request<T>("POST", path, { body: body ?? {} })).data;
  }

  async patch<T>(path: string, body: unknown): Promise<T> {
    return (await this.request<T>("PATCH", path, { body })).data;
  }

  async put<T>(path: string, body: unknown): Promise<T> {
    return (await this.request<T>("PUT", path, { body })).data;
  }

  async delete<T>(path: string): Promise<T> {
    return (await this.request<T>("DELETE", path)).data;
  }

  /**
   * A money-moving POST under one Idempotency-Key: retried automatically while its outcome is
   * unknown, always with the same key, so the server runs it at most once. Throws the last
   * ApiError when every attempt failed; `outcomeUnknown` then tells whether to offer a retry.
   */
  async idempotent<T>(path: string, body: unknown, key: string): Promise<Reply<T>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.request<T>("POST", path, { body, idempotencyKey: key });
      } catch (error) {
        const retry = error instanceof ApiError && error.outcomeUnknown && attempt < RETRY_DELAYS_MS.length;
        if (!retry) throw error;
        await sleep(RETRY_DELAYS_MS[attempt]);
      }
    }
  }
}

/** A fresh Idempotency-Key (random UUID). */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

/**
 * One money-moving operation (a sale, a refund, a credit) and its Idempotency-Key. The key is
 * made on the first attempt and kept, with the exact body, for as long as the outcome is unknown:
 * every retry is the same request, which the server runs at most once. A definite answer — a
 * success or a refusal — ends the operation; the next `send` is a new one with a new key.
 */
export class OnceOnly<T> {
  private pending: { key: string; body: unknown } | null = null;

  constructor(
    private readonly api: Api,
    private readonly path: string,
  ) {}

  /** Whether an earlier attempt's outcome is still unknown (the next `send` repeats it). */
  get unresolved(): boolean {
    return this.pending !== null;
  }

  /** Sends `body()` under a new key, or repeats the unresolved attempt unchanged. */
  async send(body: () => unknown): Promise<Reply<T>> {
    const pending = (this.pending ??= { key: newIdempotencyKey(), body: body() });
    try {
      const reply = await this.api.idempotent<T>(this.path, pending.body, pending.key);
      this.pending = null;
      return reply;
    } catch (error) {
      if (!(error instanceof ApiError && error.outcomeUnknown)) this.pending = null;
      throw error;
    }
  }

  /** Forgets an unresolved attempt (the person chose to start over). */
  abandon(): void {
    this.pending = null;
  }
}
