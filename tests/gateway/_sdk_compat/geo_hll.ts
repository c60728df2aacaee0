/**
 * Geo and HyperLogLog commands.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CompatCase, RawCommand } from "./context.ts";

const PALERMO = { longitude: 13.361389, latitude: 38.115556 };
const CATANIA = { longitude: 15.087269, latitude: 37.502669 };

async function seedSicily(raw: RawCommand, key: string): Promise<void> {
  await raw("GEOADD", key, PALERMO.longitude, PALERMO.latitude, "Palermo");
  await raw("GEOADD", key, CATANIA.longitude, CATANIA.latitude, '{"city":"Catania"}');
}

export const GEO_HLL_CASES: CompatCase[] = [
  {
    method: "geoadd",
    async run({ redis, raw, key }) {
      assert.equal(
        await redis.geoadd<unknown>(key(), { ...PALERMO, member: "Palermo" }, {
          ...CATANIA,
          member: { city: "Catania" },
        }),
        2,
      );
      assert.deepEqual(((await raw("ZRANGE", key(), 0, -1)) as string[]).sort(), [
        "Palermo",
        '{"city":"Catania"}',
      ]);
      assert.equal(await redis.geoadd(key(), { nx: true }, { ...PALERMO, member: "Palermo" }), 0);
    },
  },
  {
    method: "geodist",
    async run({ redis, raw, key }) {
      await seedSicily(raw, key());
      const km = await redis.geodist<unknown>(key(), "Palermo", { city: "Catania" }, "KM");
      assert.equal(km, Number(await raw("GEODIST", key(), "Palermo", '{"city":"Catania"}', "km")));
      assert.ok(km! > 166 && km! < 167, `${km}`);
    },
  },
  {
    method: "geohash",
    async run({ redis, raw, key }) {
      await seedSicily(raw, key());
      assert.deepEqual(await redis.geohash(key(), "Palermo", "absent"), ["sqc8b49rny0", null]);
    },
  },
  {
    method: "geopos",
    async run({ redis, raw, key }) {
      await seedSicily(raw, key());
      const [position] = await redis.geopos(key(), "Palermo");
      const [[lng, lat]] = (await raw("GEOPOS", key(), "Palermo")) as string[][];
      assert.deepEqual(position, { lng: Number(lng), lat: Number(lat) });
    },
  },
  {
    method: "geosearch",
    async run({ redis, raw, key }) {
      await seedSicily(raw, key());
      const found = await redis.geosearch<unknown>(
        key(),
        { type: "FROMMEMBER", member: "Palermo" },
        { type: "BYRADIUS", radius: 200, radiusType: "KM" },
        "ASC",
        { withDist: true },
      );
      assert.deepEqual(found.map((f) => f.member), ["Palermo", { city: "Catania" }]);
      assert.equal(found[0].dist, 0);
    },
  },
  {
    method: "geosearchstore",
    async run({ redis, raw, key }) {
      await seedSicily(raw, key());
      const stored = await redis.geosearchstore(
        key("dest"),
        key(),
        { type: "FROMLONLAT", coordinate: { lon: 15, lat: 37.5 } },
        { type: "BYBOX", rect: { width: 50, height: 50 }, rectType: "KM" },
        "ASC",
      );
      assert.equal(stored, 1);
      assert.deepEqual(await raw("ZRANGE", key("dest"), 0, -1), ['{"city":"Catania"}']);
    },
  },
  {
    method: "pfadd",
    async run({ redis, raw, key }) {
      assert.equal(await redis.pfadd(key(), "a", 1, true, { o: 1 }), 1);
      assert.equal(await raw("PFCOUNT", key()), 4);
    },
  },
  {
    method: "pfcount",
    async run({ redis, raw, key }) {
      await raw("PFADD", key("a"), "x", "y");
      await raw("PFADD", key("b"), "y", "z");
      assert.equal(await redis.pfcount(key("a"), key("b")), 3);
    },
  },
  {
    method: "pfmerge",
    async run({ redis, raw, key }) {
      await raw("PFADD", key("a"), "x", "y");
      await raw("PFADD", key("b"), "y", "z");
      assert.equal(await redis.pfmerge(key("d"), key("a"), key("b")), "OK");
      assert.equal(await raw("PFCOUNT", key("d")), 3);
    },
  },
];
