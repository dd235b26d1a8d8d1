// An independent ActivityPub server built with Fedify, which civichub's federation test runs:
// one actor ("peer") with its own RSA key, an inbox and a shared inbox that verify the HTTP
// Signatures of what arrives (Fedify's own verification, fetching civichub's key), and a small
// control API for the test:
//   POST /control/follow?actor=<url>   look the actor up (Fedify fetches it) and send Follow
//   POST /control/undo                 send Undo{Follow} for the last follow
//   POST /control/fail?count=<n>       answer the next n inbox requests with 503
//   GET  /control/received             the activities the inboxes accepted, as JSON
//   GET  /control/fetches              in secure mode, the fetches of the actor: who signed
// With --secure the actor is served only to signed fetches (Fedify's `authorize`, as Mastodon's
// AUTHORIZED_FETCH): a fetch without a signature Fedify verifies is answered 401.
// Usage: node peer.mjs <port> [--secure]; prints "listening <origin>" once it serves.
import http from "node:http";

import {
  Accept,
  Announce,
  Create,
  Delete,
  Endpoints,
  Follow,
  Like,
  MemoryKvStore,
  Person,
  Undo,
  Update,
  createFederation,
  generateCryptoKeyPair,
} from "@fedify/fedify";

const port = Number(process.argv[2] || 0);
const secure = process.argv.includes("--secure");
const origin = `http://127.0.0.1:${port}`;
const federation = createFederation({
  kv: new MemoryKvStore(),
  origin,
  // civichub runs on the loopback address in the test.
  allowPrivateAddress: true,
});
const keyPair = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
const received = [];
let failNext = 0;
const fetches = [];
let lastFollow = null;

const actors = federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== "peer") return null;
    const [key] = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Fedify peer",
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: key.cryptographicKey,
    });
  })
  .setKeyPairsDispatcher(async (_ctx, identifier) => (identifier === "peer" ? [keyPair] : []));
if (secure) {
  actors.authorize(async (ctx, identifier) => {
    const owner = await ctx.getSignedKeyOwner();
    fetches.push({ identifier, signedBy: owner?.id?.href ?? null });
    return owner != null;
  });
}

async function record(ctx, activity) {
  received.push({
    inbox: ctx.recipient == null ? "shared" : ctx.recipient,
    type: activity.constructor.typeId.href.split("#").pop(),
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    json: await activity.toJsonLd({ format: "compact" }),
  });
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, record)
  .on(Create, record)
  .on(Update, record)
  .on(Delete, record)
  .on(Undo, record)
  .on(Like, record)
  .on(Announce, record)
  .on(Follow, record);

async function control(url, res) {
  const ctx = federation.createContext(new URL(origin), undefined);
  const reply = (status, body) => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (url.pathname === "/control/received") return reply(200, received);
  if (url.pathname === "/control/fetches") return reply(200, fetches);
  if (url.pathname === "/control/fail") {
    failNext = Number(url.searchParams.get("count") || 1);
    return reply(200, { failNext });
  }
  if (url.pathname === "/control/follow") {
    const target = await ctx.lookupObject(url.searchParams.get("actor"));
    if (target == null || target.inboxId == null) return reply(404, { error: "actor not found" });
    lastFollow = new Follow({
      id: new URL(`${origin}/follows/${Date.now()}`),
      actor: ctx.getActorUri("peer"),
      object: target.id,
    });
    await ctx.sendActivity({ identifier: "peer" }, target, lastFollow, { immediate: true });
    return reply(200, { followed: target.id.href, name: target.name?.toString() ?? null });
  }
  if (url.pathname === "/control/undo") {
    if (lastFollow == null) return reply(409, { error: "nothing followed" });
    const target = await ctx.lookupObject(lastFollow.objectId.href);
    const undo = new Undo({
      id: new URL(`${origin}/undos/${Date.now()}`),
      actor: ctx.getActorUri("peer"),
      object: lastFollow,
    });
    await ctx.sendActivity({ identifier: "peer" }, target, undo, { immediate: true });
    return reply(200, { undone: lastFollow.id.href });
  }
  return reply(404, { error: "no such control" });
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, origin);
    if (url.pathname.startsWith("/control/")) return await control(url, res);
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    if (req.method === "POST" && url.pathname.endsWith("/inbox") && failNext > 0) {
      failNext -= 1;
      res.writeHead(503);
      return res.end("unavailable (asked by the test)");
    }
    const request = new Request(url, {
      method: req.method,
      headers: Object.entries(req.headers).flatMap(([name, value]) =>
        Array.isArray(value) ? value.map((v) => [name, v]) : [[name, value]],
      ),
      body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
    });
    const response = await federation.fetch(request, { contextData: undefined });
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch (error) {
    console.error(error);
    res.writeHead(500, { "Content-Type": "text/plain" });
    res.end(String(error));
  }
});

server.listen(port, "127.0.0.1", () => console.log(`listening ${origin}`));
