// One MCP client scenario through the gateway, with the official TypeScript SDK (v1 or v2).
//
// usage: node client.mjs '<json>'  with {scenario, url, token?, tool?, arguments?, clientId?, clientSecret?, issuer?}
// Prints one JSON line: what the client saw ({ok: true, tools, text, ...}) or what it
// printed for a failure ({ok: false, error, description}).  The Python tests read that line.

import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport as SseV1 } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport as HttpV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  Client as ClientV2,
  ClientCredentialsProvider,
  StreamableHTTPClientTransport as HttpV2,
} from "@modelcontextprotocol/client";

const options = JSON.parse(process.argv[2]);
const info = { name: "gateway-tests", version: "1.0.0" };
const headers = options.token ? { Authorization: `Bearer ${options.token}` } : {};
const url = new URL(options.url);

function textOf(result) {
  return (result.content ?? []).map((block) => block.text ?? "").join("");
}

async function toolsAndCall(client) {
  const tools = (await client.listTools()).tools.map((tool) => tool.name).sort();
  const seen = { tools };
  if (options.tool) {
    const result = await client.callTool({ name: options.tool, arguments: options.arguments ?? {} });
    seen.text = textOf(result);
    seen.isError = Boolean(result.isError);
  }
  return seen;
}

const scenarios = {
  async "v1-http"() {
    const client = new ClientV1(info);
    await client.connect(new HttpV1(url, { requestInit: { headers } }));
    try {
      return { ...(await toolsAndCall(client)), protocol: client.transport?.protocolVersion ?? null };
    } finally {
      await client.close();
    }
  },
  async "v1-sse"() {
    const client = new ClientV1(info);
    const withAuth = (input, init) => fetch(input, { ...init, headers: { ...(init?.headers ?? {}), ...headers } });
    await client.connect(new SseV1(url, { requestInit: { headers }, eventSourceInit: { fetch: withAuth } }));
    try {
      return await toolsAndCall(client);
    } finally {
      await client.close();
    }
  },
  async "v2-http-legacy"() {
    const client = new ClientV2(info);
    await client.connect(new HttpV2(url, { requestInit: { headers } }));
    try {
      return await toolsAndCall(client);
    } finally {
      await client.close();
    }
  },
  async "v2-http-modern"() {
    const client = new ClientV2(info, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(new HttpV2(url, { requestInit: { headers } }));
    try {
      const seen = await toolsAndCall(client);
      const subscription = await client.listen({ toolsListChanged: true });
      seen.listening = true;
      await subscription.close();
      return seen;
    } finally {
      await client.close();
    }
  },
  async "v2-lists"() {
    const client = new ClientV2(info, { versionNegotiation: { mode: "auto" } });
    await client.connect(new HttpV2(url, { requestInit: { headers } }));
    try {
      const resources = (await client.listResources()).resources.map((resource) => resource.uri);
      const templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
      const prompts = (await client.listPrompts()).prompts.map((prompt) => prompt.name);
      const read = (await client.readResource({ uri: "fin://tickers" })).contents.map((c) => c.text).join("");
      let refused = null;
      try {
        await client.readResource({ uri: "fin://accounts/main" });
      } catch (error) {
        refused = error?.errorDescription ?? String(error?.message ?? error);
      }
      return { resources, templates, prompts, read, refused };
    } finally {
      await client.close();
    }
  },
  async "v2-client-credentials"() {
    const authProvider = new ClientCredentialsProvider({
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      expectedIssuer: options.issuer,
    });
    const client = new ClientV2(info, { versionNegotiation: { mode: "auto" } });
    await client.connect(new HttpV2(url, { authProvider }));
    try {
      return await toolsAndCall(client);
    } finally {
      await client.close();
    }
  },
};

try {
  const seen = await scenarios[options.scenario]();
  console.log(JSON.stringify({ ok: true, ...seen }));
} catch (error) {
  // What a host application has to show: the message, and the server's reason where the SDK keeps it apart.
  const description = error?.errorDescription ?? null;
  console.log(JSON.stringify({ ok: false, error: String(error?.message ?? error), description }));
}
process.exit(0);
