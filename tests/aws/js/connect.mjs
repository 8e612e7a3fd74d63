// Runs Amazon Connect and Amazon Q in Connect commands with the AWS SDK for JavaScript v3
// against an endpoint.
// Input (stdin): {endpoint, region, credentials: {accessKeyId, secretAccessKey}, calls: [
//   {command: "ListInstancesCommand", input: {...}, service: "connect" | "qconnect"}, ...]}.
// In an input, "$N.Path.To" or "${N.Path.To}" is replaced by that member of call N's output
// (N may also be the `as` name of a call); "${...}" inside a longer string is interpolated.
// {"$date": "2024-01-01T00:00:00Z"} is a Date. A call {upload: url, body: text, headers: {...}}
// PUTs the body to the URL (an attached file's upload URL) instead of calling an operation. A
// call with `paginate: "ResultKey"` runs the command's paginator one item a page and answers
// {ResultKey: [the items of every page]}.
// Output (stdout): one result per call, {ok: true, output} or {ok: false, name, status,
// message, fields}; dates as ISO 8601 text, blobs as {"$blob": base64}; a command the SDK does
// not have answers {ok: false, name: "NoSuchCommand"}.
import * as connect from "@aws-sdk/client-connect";
import * as qconnect from "@aws-sdk/client-qconnect";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const spec = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const options = {
  endpoint: spec.endpoint,
  region: spec.region,
  credentials: spec.credentials,
  maxAttempts: 1,
};
const services = {
  connect: { module: connect, client: new connect.ConnectClient(options) },
  qconnect: { module: qconnect, client: new qconnect.QConnectClient(options) },
};

const results = [];
const named = {};
const lookup = (reference) => {
  const [head, ...path] = reference.split(".");
  const found = /^\d+$/.test(head) ? results[Number(head)] : named[head];
  return path.reduce((value, key) => value?.[key], found?.output);
};
const WHOLE = /^\$\{([^}]+)\}$/;
const resolve = (value) => {
  if (typeof value === "string") {
    const whole = WHOLE.exec(value);
    if (whole) return lookup(whole[1]);
    if (/^\$\d/.test(value)) return lookup(value.slice(1));
    return value.replace(/\$\{([^}]+)\}/g, (_, reference) => String(lookup(reference)));
  }
  if (Array.isArray(value)) return value.map(resolve);
  if (value && typeof value === "object") {
    if (Object.keys(value).length === 1 && "$date" in value) return new Date(value.$date);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
  }
  return value;
};
const plain = (value) => {
  if (value instanceof Uint8Array) return { $blob: Buffer.from(value).toString("base64") };
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
};
// What an SDK exception carries besides the members of its error shape.
const NOT_FIELDS = new Set(["name", "message", "$fault", "$metadata", "$response", "$retryable"]);

for (const call of spec.calls) {
  let result;
  try {
    if (call.upload !== undefined) {
      const response = await fetch(resolve(call.upload), {
        method: "PUT",
        body: call.body,
        headers: resolve(call.headers ?? {}),
      });
      result = { ok: response.ok, output: { status: response.status } };
    } else if (call.paginate !== undefined) {
      // Every page through the SDK's paginator, one item a page; the items of all pages.
      const { module, client } = services[call.service ?? "connect"];
      const paginator = module[`paginate${call.command.replace(/Command$/, "")}`];
      const items = [];
      for await (const page of paginator({ client, pageSize: 1 }, resolve(call.input))) {
        items.push(...(page[call.paginate] ?? []));
      }
      result = { ok: true, output: plain({ [call.paginate]: items }) };
    } else if (services[call.service ?? "connect"].module[call.command] === undefined) {
      // An operation newer than this SDK: its users cannot call it.
      result = { ok: false, name: "NoSuchCommand", message: `no ${call.command} in this SDK` };
    } else {
      const { module, client } = services[call.service ?? "connect"];
      const output = await client.send(new module[call.command](resolve(call.input)));
      delete output.$metadata;
      result = { ok: true, output: plain(output) };
    }
  } catch (error) {
    const fields = Object.fromEntries(
      Object.entries(error).filter(([key]) => !NOT_FIELDS.has(key)),
    );
    result = {
      ok: false,
      name: error.name,
      status: error.$metadata?.httpStatusCode,
      message: error.message,
      fields: plain(fields),
    };
  }
  results.push(result);
  if (call.as) named[call.as] = result;
}
process.stdout.write(JSON.stringify(results));
