import { handleRestRequest } from "@/server/api/rest";

export { handleRestRequest as GET, handleRestRequest as POST, handleRestRequest as PUT, handleRestRequest as PATCH, handleRestRequest as DELETE };
export const dynamic = "force-dynamic";
