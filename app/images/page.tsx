import type { Metadata } from "next";
import { requireSession } from "../_lib/session";
import { ImagesView } from "./images-view";

export const metadata: Metadata = { title: "Images" };

export default async function ImagesPage() {
  await requireSession("/images");
  return <ImagesView />;
}
