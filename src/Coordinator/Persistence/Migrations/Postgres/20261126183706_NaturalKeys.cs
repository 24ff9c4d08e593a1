using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Sagas.Coordinator.Persistence.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class NaturalKeys : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "PK_saga_history",
                table: "saga_history");

            migrationBuilder.DropIndex(
                name: "IX_saga_history_SagaId_Sequence",
                table: "saga_history");

            migrationBuilder.DropPrimaryKey(
                name: "PK_saga_events",
                table: "saga_events");

            migrationBuilder.DropIndex(
                name: "IX_saga_events_SagaId_Version",
                table: "saga_events");

            migrationBuilder.DropIndex(
                name: "IX_inbox_ReceivedAt",
                table: "inbox");

            migrationBuilder.DropColumn(
                name: "Id",
                table: "saga_history");

            migrationBuilder.DropColumn(
                name: "Id",
                table: "saga_events");

            migrationBuilder.AddPrimaryKey(
                name: "PK_saga_history",
                table: "saga_history",
                columns: new[] { "SagaId", "Sequence" });

            migrationBuilder.AddPrimaryKey(
                name: "PK_saga_events",
                table: "saga_events",
                columns: new[] { "SagaId", "Version" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "PK_saga_history",
                table: "saga_history");

            migrationBuilder.DropPrimaryKey(
                name: "PK_saga_events",
                table: "saga_events");

            migrationBuilder.AddColumn<long>(
                name: "Id",
                table: "saga_history",
                type: "bigint",
                nullable: false,
                defaultValue: 0L)
                .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn);

            migrationBuilder.AddColumn<long>(
                name: "Id",
                table: "saga_events",
                type: "bigint",
                nullable: false,
                defaultValue: 0L)
                .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn);

            migrationBuilder.AddPrimaryKey(
                name: "PK_saga_history",
                table: "saga_history",
                column: "Id");

            migrationBuilder.AddPrimaryKey(
                name: "PK_saga_events",
                table: "saga_events",
                column: "Id");

            migrationBuilder.CreateIndex(
                name: "IX_saga_history_SagaId_Sequence",
                table: "saga_history",
                columns: new[] { "SagaId", "Sequence" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_saga_events_SagaId_Version",
                table: "saga_events",
                columns: new[] { "SagaId", "Version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_inbox_ReceivedAt",
                table: "inbox",
                column: "ReceivedAt");
        }
    }
}
