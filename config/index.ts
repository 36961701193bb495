export * from "./issues";
export * from "./ipv4";
export * from "./load";
export * from "./schema";
export * from "./resolve";
export * from "./workloads";
export * from "./guests";
