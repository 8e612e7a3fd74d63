// Runs Amazon Connect commands with the AWS SDK for JavaScript v3 against an endpoint.
// Input (stdin): {endpoint, region, credentials: {accessKeyId, secretAccessKey}, calls: [
//   {command: "ListInstancesCommand", input: {...}}, ...]}; an input string "$N.Path.To"
// is replaced by that member of call N's output. Output (stdout): one result per call.
import * as connect from "@aws-sdk/client-connect";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const spec = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const client = new connect.ConnectClient({
  endpoint: spec.endpoint,
  region: spec.region,
  credentials: spec.credentials,
  maxAttempts: 1,
});

const results = [];
const resolve = (value) => {
  if (typeof value === "string" && value.startsWith("$")) {
    const [index, ...path] = value.slice(1).split(".");
    return path.reduce((found, key) => found?.[key], results[Number(index)]?.output);
  }
  if (Array.isArray(value)) return value.map(resolve);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
  }
  return value;
};

for (const call of spec.calls) {
  try {
    const output = await client.send(new connect[call.command](resolve(call.input)));
    delete output.$metadata;
    results.push({ ok: true, output });
  } catch (error) {
    results.push({
      ok: false,
      name: error.name,
      status: error.$metadata?.httpStatusCode,
      message: error.message,
    });
  }
}
process.stdout.write(JSON.stringify(results));
