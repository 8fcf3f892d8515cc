import { z } from "zod";
import { createFlavor, createHostDevice, deleteFlavor, deleteHostDevice, listFlavors, listHostDevices, updateFlavor } from "../../services/flavor-service.ts";
import { ZCreateFlavorInput, ZCreateHostDeviceInput, ZFlavor, ZHostDevice, ZUpdateFlavorInput } from "../flavor-schemas.ts";
import { ZId } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["flavors"];
const ZDeleted = z.object({ id: z.string(), deleted: z.boolean() });

export const flavorRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/flavors", "flavors to create and resize VMs with: name, description and size (admins: every flavor with its tuning and devices)", { tags }))
    .input(z.object({}).optional())
    .output(z.array(ZFlavor))
    .query(({ ctx }) => listFlavors(ctx.svc)),
  create: protectedProcedure
    .meta({ ...rest("POST", "/flavors", "define a flavor (admin): size, CPU pinning, NUMA, huge pages, CPU limits, disk and network QoS, firmware, PCI devices", { tags }), successStatus: 201, scope: "admin" })
    .input(ZCreateFlavorInput)
    .output(ZFlavor)
    .mutation(({ ctx, input }) => createFlavor(ctx.svc, input)),
  update: protectedProcedure
    .meta({ ...rest("PATCH", "/flavors/{id}", "change a flavor (admin): name, description and visibility any time; size, tuning and devices only while no VM uses it (409)", { tags }), scope: "admin" })
    .input(ZUpdateFlavorInput)
    .output(ZFlavor)
    .mutation(({ ctx, input }) => {
      const { id, ...patch } = input;
      return updateFlavor(ctx.svc, id, patch);
    }),
  delete: protectedProcedure
    .meta({ ...rest("DELETE", "/flavors/{id}", "delete a flavor no VM uses (admin; 409 otherwise)", { tags }), scope: "admin" })
    .input(ZId)
    .output(ZDeleted)
    .mutation(({ ctx, input }) => deleteFlavor(ctx.svc, input.id)),
  devices: protectedProcedure
    .meta({ ...rest("GET", "/host-devices", "the pool of PCI devices flavors may pass through (admin)", { tags }), scope: "admin" })
    .input(z.object({}).optional())
    .output(z.array(ZHostDevice))
    .query(({ ctx }) => listHostDevices(ctx.svc)),
  addDevice: protectedProcedure
    .meta({ ...rest("POST", "/host-devices", "add a host's PCI device (domain:bus:slot.function) to the pool (admin)", { tags }), successStatus: 201, scope: "admin" })
    .input(ZCreateHostDeviceInput)
    .output(ZHostDevice)
    .mutation(({ ctx, input }) => createHostDevice(ctx.svc, input)),
  removeDevice: protectedProcedure
    .meta({ ...rest("DELETE", "/host-devices/{id}", "remove a device from the pool (admin; 409 while a flavor uses it)", { tags }), scope: "admin" })
    .input(ZId)
    .output(ZDeleted)
    .mutation(({ ctx, input }) => deleteHostDevice(ctx.svc, input.id)),
});
