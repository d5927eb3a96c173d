import { request } from "node:http";

/** A response as tests read it. */
export interface TestHttpResponse {
  status: number;
  contentType: string | undefined;
  body: string;
}

/** Sends one HTTP request without a body to 127.0.0.1:`port` and reads the whole response, for endpoint tests. */
export function sendTestRequest(port: number | undefined, method: string, path: string): Promise<TestHttpResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: "127.0.0.1", port, method, path }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, contentType: response.headers["content-type"], body }));
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}
