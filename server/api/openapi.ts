import { generateOpenApiDocument } from "trpc-to-openapi";
import { appRouter } from "./root.ts";

let doc: ReturnType<typeof generateOpenApiDocument> | undefined;

export function openApiDocument(baseUrl: string) {
  doc ??= generateOpenApiDocument(appRouter, {
    title: "vmdesk API",
    description: "Self-service KVM VMs. Authenticate with POST /auth/token, then send Authorization: Bearer <token>.",
    version: "1.0.0",
    baseUrl,
  });
  return doc;
}
