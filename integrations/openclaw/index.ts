// Warden for OpenClaw: before every tool call, ask the Warden sidecar.
//
//   execute -> the call runs, with the arguments Warden returned (secrets in
//              them replaced by placeholders) when it redacted any;
//   deny    -> the call is blocked; the model reads Warden's reason;
//   gate    -> the call waits for a human's answer to Warden's approval
//              (operator's control API or the hub), long-polling inside this
//              hook; allowed -> runs, denied or expired -> blocked; still
//              unanswered when the wait ends -> blocked with the approval id,
//              and the same call retried in the same session maps to the same
//              approval (Idempotency-Key), so it runs once it is approved.
//
// Fails closed: if Warden does not answer, the call is blocked.
//
// Why not OpenClaw's own requireApproval: an answer given inside the agent's
// process would stand in for Warden's. The human decides at Warden (the hub,
// or the control API); this hook only waits. This plugin never answers
// approvals, so Warden can run with `[gate] agent_can_decide = false`.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

/** Plugin config (openclaw.plugin.json's configSchema). */
type Config = {
  url?: string;
  tokenFile?: string;
  token?: string;
  agentId?: string;
  waitSeconds?: number;
  requestTimeoutMs?: number;
};

/** The subset of OpenClaw's before_tool_call event and context used here. */
type ToolCallEvent = { toolName: string; params: Record<string, unknown>; toolCallId?: string; runId?: string };
type ToolCallContext = { agentId?: string; sessionKey?: string; sessionId?: string };
type HookResult = { params?: Record<string, unknown>; block?: boolean; blockReason?: string } | undefined;

/** Warden's answer to POST /api/v1/tools/execute. */
type Decision = {
  decision: "execute" | "deny" | "gate";
  tier: string;
  reason: string;
  approval_id?: string;
  expires_at?: string;
  tool_args: Record<string, unknown>;
  redacted: number;
};

/** Warden's view of an approval. */
type Approval = { id: string; status: "pending" | "allowed" | "denied" | "expired" | "consumed"; decision?: string | null; decided_by?: string | null };

type PluginApi = {
  pluginConfig?: Config;
  logger?: { info?: (msg: string) => void; warn?: (msg: string) => void };
  on: (
    hook: "before_tool_call",
    handler: (event: ToolCallEvent, ctx: ToolCallContext) => Promise<HookResult>,
    opts?: { timeoutMs?: number },
  ) => void;
};

const DEFAULT_URL = "http://127.0.0.1:8200";

/** JSON with object keys sorted, so equal arguments hash equal. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}

/** The same call in the same session gets the same key (and so the same approval). */
export function idempotencyKey(session: string, tool: string, params: unknown): string {
  return "oc-" + createHash("sha256").update(`${session}\u0000${tool}\u0000${canonical(params)}`).digest("hex");
}

function blocked(reason: string): HookResult {
  return { block: true, blockReason: reason };
}

export class WardenClient {
  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {}

  private async call<T>(method: string, path: string, body: unknown, headers: Record<string, string>, timeoutMs: number): Promise<T> {
    const resp = await fetch(this.url.replace(/\/+$/, "") + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body ? { "content-type": "application/json" } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await resp.text();
    if (!resp.ok) {
      let msg = text;
      try {
        msg = JSON.parse(text).error ?? text;
      } catch {}
      throw new Error(`Warden answered HTTP ${resp.status}: ${msg}`);
    }
    return JSON.parse(text) as T;
  }

  decide(req: object, key: string): Promise<Decision> {
    return this.call("POST", "/api/v1/tools/execute", req, { "idempotency-key": key }, this.timeoutMs);
  }

  wait(id: string, seconds: number): Promise<Approval> {
    return this.call("GET", `/api/v1/approvals/${encodeURIComponent(id)}?wait=${seconds}`, undefined, {}, seconds * 1000 + this.timeoutMs);
  }
}

/** Decide one tool call. Exported for tests. */
export async function beforeToolCall(client: WardenClient, cfg: Config, event: ToolCallEvent, ctx: ToolCallContext): Promise<HookResult> {
  const session = ctx.sessionId ?? ctx.sessionKey ?? "";
  let d: Decision;
  try {
    d = await client.decide(
      {
        session_id: session,
        agent_id: ctx.agentId ?? cfg.agentId ?? "",
        tool_name: event.toolName,
        tool_args: event.params ?? {},
        context: { tool_call_id: event.toolCallId, run_id: event.runId, session_key: ctx.sessionKey },
      },
      idempotencyKey(session, event.toolName, event.params ?? {}),
    );
  } catch (e) {
    return blocked(`Warden did not decide this call (${(e as Error).message}); it is blocked.`);
  }
  const run = (): HookResult => (d.redacted > 0 ? { params: d.tool_args } : undefined);
  if (d.decision === "execute") return run();
  if (d.decision === "deny") return blocked(`Warden denied ${event.toolName} (${d.tier}): ${d.reason}`);
  if (d.decision !== "gate" || !d.approval_id) return blocked(`Warden answered ${JSON.stringify(d.decision)}; the call is blocked.`);

  const wait = Math.max(0, Math.min(120, cfg.waitSeconds ?? 60));
  let a: Approval;
  try {
    a = await client.wait(d.approval_id, wait);
  } catch (e) {
    return blocked(`Warden holds ${event.toolName} for approval ${d.approval_id} and could not be asked about it (${(e as Error).message}); it is blocked.`);
  }
  if (a.status === "allowed") return run();
  if (a.status === "pending") {
    return blocked(
      `Held for a human: Warden approval ${d.approval_id} (${d.tier}: ${d.reason}) is not answered yet. ` +
        `Tell the user it needs their approval; the same call made again after it is approved will run.`,
    );
  }
  const why = a.status === "expired" ? "not answered in time" : a.status === "consumed" ? "allowed once, and that run was already used" : "denied";
  return blocked(`Warden approval ${d.approval_id} was ${why} (${d.tier}: ${d.reason}); ${event.toolName} did not run.`);
}

function readToken(cfg: Config): string {
  if (cfg.token) return cfg.token.trim();
  if (cfg.tokenFile) return readFileSync(cfg.tokenFile, "utf8").trim();
  throw new Error("warden plugin: set tokenFile (Warden's agent.token) or token in the plugin config");
}

export default {
  id: "warden",
  name: "Warden",
  description: "Asks the Warden sidecar before every tool call.",
  register(api: PluginApi) {
    const cfg: Config = api.pluginConfig ?? {};
    let client: WardenClient | undefined;
    let setupError: string | undefined;
    try {
      client = new WardenClient(cfg.url ?? DEFAULT_URL, readToken(cfg), cfg.requestTimeoutMs ?? 5000);
    } catch (e) {
      // No token, no tools: every call is blocked with the reason.
      setupError = (e as Error).message;
      api.logger?.warn?.(setupError);
    }
    const wait = Math.max(0, Math.min(120, cfg.waitSeconds ?? 60));
    api.on(
      "before_tool_call",
      async (event, ctx) => (client ? beforeToolCall(client, cfg, event, ctx) : blocked(`${setupError}; the call is blocked.`)),
      // Room for the decision, the long poll and a margin.
      { timeoutMs: wait * 1000 + 2 * (cfg.requestTimeoutMs ?? 5000) + 1000 },
    );
  },
};
