import { createOpenApiFetchHandler } from "trpc-to-openapi";
import { appRouter, restSuccessStatus } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { openApiDocument } from "@/server/api/openapi";

async function handler(req: Request) {
  const url = new URL(req.url);
  if (url.pathname === "/api/v1/openapi.json" && req.method === "GET") {
    return Response.json(openApiDocument(`${url.origin}/api/v1`));
  }
  return createOpenApiFetchHandler({
    endpoint: "/api/v1",
    router: appRouter,
    createContext,
    req,
    responseMeta: ({ paths, errors }) => {
      const status = errors.length === 0 && paths?.[0] ? restSuccessStatus.get(paths[0]) : undefined;
      return status ? { status } : {};
    },
  });
}

export { handler as GET, handler as POST, handler as PUT, handler as PATCH, handler as DELETE };
export const dynamic = "force-dynamic";
